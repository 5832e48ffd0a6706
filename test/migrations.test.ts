import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTITY_TABLES, ENTITY_TYPES } from '../shared/entities.ts';
import { listMigrations, migrate } from '../server/db/migrate.ts';
import { createTestDatabase, silentLog, type TestDatabase } from './support/db.ts';

describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterAll(async () => {
    await db.drop();
  });

  it('each migration is applied once, in order, and recorded', async () => {
    const first = await migrate(db.pool, silentLog);
    expect(first).toEqual(listMigrations().map((m) => m.version));
    const second = await migrate(db.pool, silentLog);
    expect(second).toEqual([]);
    const recorded = await db.pool.query<{ version: string }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(recorded.rows.map((r) => r.version)).toEqual(first);
  });

  it('every entity table has server_version bumped from one sequence by any writer', async () => {
    const tenant = '00000000-0000-4000-8000-000000000001';
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'School')`, [tenant]);
    const a = await db.pool.query<{ server_version: number }>(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, gen_random_uuid(), 'A', 'B') RETURNING server_version`,
      [tenant],
    );
    const b = await db.pool.query<{ server_version: number }>(
      `INSERT INTO school_levels (tenant_id, id, name, rank, server_version) VALUES ($1, gen_random_uuid(), 'L1', 1, 999999) RETURNING server_version`,
      [tenant],
    );
    const v1 = a.rows[0]!.server_version;
    const v2 = b.rows[0]!.server_version;
    expect(v2).toBeGreaterThan(v1);
    expect(v2).not.toBe(999999);
    const updated = await db.pool.query<{ server_version: number }>(
      `UPDATE teachers SET first_name = 'C' WHERE tenant_id = $1 RETURNING server_version`,
      [tenant],
    );
    expect(updated.rows[0]!.server_version).toBeGreaterThan(v2);
  });

  it('the eleven entity tables exist with REPLICA IDENTITY FULL', async () => {
    const result = await db.pool.query<{ relname: string; relreplident: string }>(
      `SELECT relname, relreplident FROM pg_class WHERE relname = ANY($1::text[]) AND relkind = 'r'`,
      [ENTITY_TYPES.map((t) => ENTITY_TABLES[t])],
    );
    expect(result.rows).toHaveLength(11);
    for (const row of result.rows) expect(row.relreplident).toBe('f');
  });
});
