import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { inTransaction, type Pool } from './pool.ts';

export const SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'sql');

/** Advisory lock key that serialises start-up work (migrations, publication, slot) across server processes. */
export const SETUP_LOCK_KEY = 7_405_101;

export interface Migration {
  version: string;
  sql: string;
}

export function listMigrations(dir = SQL_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({ version: file.replace(/\.sql$/, ''), sql: readFileSync(join(dir, file), 'utf8') }));
}

/**
 * Applies every migration not yet recorded in `schema_migrations`, in order, each in its own transaction
 * together with its record. A transaction-scoped advisory lock keeps two starting servers from racing.
 */
export async function migrate(pool: Pool, log: Logger, dir = SQL_DIR): Promise<string[]> {
  const applied: string[] = [];
  await pool.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  for (const migration of listMigrations(dir)) {
    await inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [SETUP_LOCK_KEY]);
      const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
        migration.version,
      ]);
      if (done.rowCount !== 0) return;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
      applied.push(migration.version);
      log.info({ migration: migration.version }, 'migration applied');
    });
  }
  return applied;
}
