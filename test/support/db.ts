import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { inject } from 'vitest';
import { migrate } from '../../server/db/migrate.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';

export interface TestDatabase {
  name: string;
  url: string;
  pool: Pool;
  /** Drops the database after removing its replication slots. */
  drop(): Promise<void>;
}

export const silentLog: Logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database for one test file, migrated unless `migrated: false`. */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(inject('pgAdminUrl'), name);
  // drop() terminates every backend of the database; an idle client that hears it is simply dropped.
  const pool = createPool(url, { max: 10, application: 'test', onIdleError: () => undefined });
  if (options.migrated !== false) await migrate(pool, silentLog);
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      await admin(async (c) => {
        await c.query(
          `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`,
          [name],
        );
        await c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [name],
        );
        for (let attempt = 0; ; attempt++) {
          try {
            await c.query(
              `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`,
              [name],
            );
            break;
          } catch (error) {
            // A walsender that was just terminated may still hold the slot for a moment.
            if (attempt >= 50) throw error;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    },
  };
}

export { waitFor } from './wait.ts';
