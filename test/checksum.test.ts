import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumOf } from '../shared/checksum.ts';
import { ENTITY_TYPES } from '../shared/entities.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { DeskTestServer } from './support/desk-server.ts';
import { createTenant } from './support/http.ts';

async function post(server: DeskTestServer, body: unknown, token: string) {
  const response = await fetch(`${server.url}/api/sync/checksum`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      checksums: Record<string, { count: number; sum: string }>;
      cursor: string;
      code?: string;
    },
  };
}

describe('POST /api/sync/checksum', () => {
  let db: TestDatabase;
  let server: DeskTestServer;
  let tenant: string;
  let other: string;
  let token: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = new DeskTestServer(db);
    await server.start();
    tenant = await createTenant(db.pool, 'A');
    other = await createTenant(db.pool, 'B');
    token = await server.token(tenant);
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('the SQL sum equals shared/checksum.ts over the same rows (2^64 wrap included)', async () => {
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, server_version)
       SELECT $1, gen_random_uuid(), 'Awa', 'N' || g, 0 FROM generate_series(1, 3000) g`,
      [tenant],
    );
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name, server_version) VALUES ($1, $2, 'T', 'U', 0)`,
      [other, randomUUID()],
    );
    const { status, body } = await post(server, { clientId: 'desk-a' }, token);
    expect(status).toBe(200);
    const rows = await db.pool.query<{ id: string; server_version: number }>(
      'SELECT id::text, server_version FROM students WHERE tenant_id = $1',
      [tenant],
    );
    const expected = checksumOf(rows.rows.map((r) => [r.id, r.server_version] as const));
    expect(body.checksums.STUDENT).toEqual(expected);
    // 3000 hashes of ~2^63 on average overflow 2^64 many times over: the modulo is exercised.
    expect(BigInt(expected.sum)).toBeLessThan(1n << 64n);
    expect(Object.keys(body.checksums).sort()).toEqual([...ENTITY_TYPES].sort());
    expect(body.checksums.TEACHER).toEqual({ count: 0, sum: '0' });
  });

  it("the answer covers every change committed before the request, and its cursor is /down's tail", async () => {
    const id = randomUUID();
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, server_version) VALUES ($1, $2, 'New', 'One', 0)`,
      [tenant, id],
    );
    const { body } = await post(server, { clientId: 'desk-a', entityTypes: ['STUDENT'] }, token);
    expect(Object.keys(body.checksums)).toEqual(['STUDENT']);
    expect(body.checksums.STUDENT?.count).toBe(3001);
    // Everything up to the cursor is in the log: /down from it has nothing more.
    const down = await fetch(`${server.url}/api/sync/down`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ clientId: 'desk-a', cursor: body.cursor }),
    });
    expect(((await down.json()) as { changes: unknown[] }).changes).toEqual([]);
    const events = await db.pool.query('SELECT 1 FROM sync_events WHERE entity_id = $1', [id]);
    expect(events.rowCount).toBe(1);
  });

  it('the capture wait holds on a quiet log too (no entity change pending)', async () => {
    const started = Date.now();
    const { status } = await post(server, { clientId: 'desk-a', entityTypes: ['CLASS'] }, token);
    expect(status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('role dba is refused; an unknown type is 400', async () => {
    const dba = await post(server, { clientId: 'x' }, await server.token(tenant, 'dba'));
    expect(dba.status).toBe(403);
    const bad = await post(server, { clientId: 'x', entityTypes: ['NOPE'] }, token);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('UNKNOWN_ENTITY_TYPE');
  });
});
