import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../server/db/embedded.ts';
import { migrate } from '../../server/db/migrate.ts';
import { createClient, createPool, type Pool } from '../../server/db/pool.ts';

export interface BenchPostgres {
  /** Connection string of the `bench` database. */
  url: string;
  /** The cluster's data folder (identifies its processes). */
  dataDir: string;
  pool: Pool;
  /** Ends the pool (unless the bench already has), stops Postgres and removes its folder. */
  stop(): Promise<void>;
}

export interface BenchPostgresOptions {
  /** Prefix of the temp folder and the pool's application name. */
  name: string;
  /** Appended to the cluster's command line; they apply to every measurement a bench makes. */
  flags?: string[];
  /** The pool's size; 10 by default, as for any pool. */
  poolMax?: number;
  /** Applies the migrations to `bench` (the default). */
  migrated?: boolean;
  /** Where migrate's progress goes; warnings only by default. */
  log?: Logger;
}

/**
 * An embedded cluster in a fresh temp folder with a `bench` database and a pool on it. A start that fails
 * half-way stops what it started, so that no cluster outlives the run.
 */
export async function startBenchPostgres(options: BenchPostgresOptions): Promise<BenchPostgres> {
  const dir = mkdtempSync(join(tmpdir(), `${options.name}-`));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  let postgres: EmbeddedPostgresHandle;
  try {
    postgres = await startEmbeddedPostgres({ dir, extraFlags: options.flags ?? [] });
  } catch (error) {
    remove();
    throw error;
  }
  const url = postgres.databaseUrl('bench');
  const pool = createPool(url, {
    max: options.poolMax ?? 10,
    application: options.name,
    // pg-pool's end() resolves before its sockets close; stopping Postgres right after then errors them.
    onIdleError: () => undefined,
  });
  const stop = async (): Promise<void> => {
    if (!pool.ended) await pool.end();
    await postgres.stop();
    remove();
  };
  try {
    await createBenchDatabase(postgres.connectionString);
    if (options.migrated ?? true) await migrate(pool, options.log ?? pino({ level: 'warn' }));
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, dataDir: join(dir, 'pg'), pool, stop };
}

async function createBenchDatabase(connectionString: string): Promise<void> {
  const admin = createClient(connectionString);
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE bench');
  } finally {
    await admin.end();
  }
}
