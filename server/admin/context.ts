import { createInterface } from 'node:readline/promises';
import { pino, type Logger } from 'pino';
import { loadEnv, type Env } from '../config/env.ts';
import { jwtSecretPath, readJwtSecretFile } from '../config/jwt-secret.ts';
import { loadSyncRules, type SyncRules } from '../config/rules.ts';
import type { Pool } from '../db/pool.ts';
import { AdminError } from './command.ts';
import { connect, describeDatabaseError, resolveDatabase, type DatabaseTarget } from './database.ts';

/** Where a command writes. `out` is for results only (an id, a token, a table, JSON); `err` for the rest. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/** What a command may use. Everything is obtained on first use, so `help` or a usage error needs nothing. */
export interface AdminContext {
  readonly io: Io;
  /** Logger on stderr for library code that takes one (migrate); warnings and errors only. */
  readonly log: Logger;
  /** The environment, parsed once by the server's schema (a bad variable is a ConfigError). */
  env(): Env;
  /** The sync-rules file of SYNC_CONFIG (slot, publication, retention), or the defaults. */
  rules(): SyncRules;
  /** Whether a person at a terminal can answer `confirm`. */
  canAsk(): boolean;
  /** Asks a yes/no question on the terminal (stderr); only "y" or "yes" is yes. */
  confirm(question: string): Promise<boolean>;
  /**
   * The server's JWT secret: SYNC_JWT_SECRET, or (without DATABASE_URL) the one a server generated under
   * SYNC_DATA_DIR; an AdminError naming SYNC_JWT_SECRET when there is neither.
   */
  jwtSecret(): string;
  /** Connects to the target database, runs `fn`, and always disconnects. Postgres errors become AdminErrors. */
  withDatabase<T>(fn: (pool: Pool, target: DatabaseTarget) => Promise<T>): Promise<T>;
}

export function createAdminContext(options: {
  io: Io;
  environment: NodeJS.ProcessEnv;
  /** Where answers come from (default: this process's stdin, when it is a terminal). */
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
}): AdminContext {
  const input = options.input ?? process.stdin;
  let env: Env | undefined;
  let rules: SyncRules | undefined;
  let log: Logger | undefined;
  const loadOnce = (): Env => (env ??= loadEnv(options.environment));
  return {
    io: options.io,
    get log() {
      return (log ??= pino({ name: 'sync-admin', level: 'warn' }, pino.destination({ dest: 2, sync: true })));
    },
    env: loadOnce,
    rules: () => (rules ??= loadSyncRules(loadOnce().syncConfigPath)),
    canAsk: () => input.isTTY === true,
    async confirm(question) {
      const prompt = createInterface({ input, output: process.stderr });
      try {
        const answer = await prompt.question(`${question} [y/N] `);
        return /^y(es)?$/i.test(answer.trim());
      } finally {
        prompt.close();
      }
    },
    jwtSecret: () => adminJwtSecret(loadOnce()),
    async withDatabase(fn) {
      const target = resolveDatabase(loadOnce());
      const pool = await connect(target);
      try {
        return await fn(pool, target);
      } catch (error) {
        throw describeDatabaseError(error, target) ?? error;
      } finally {
        await pool.end();
      }
    },
  };
}

/** The secret the server of this environment signs with; see `AdminContext.jwtSecret`. */
function adminJwtSecret(env: Env): string {
  if (env.jwtSecret !== undefined) return env.jwtSecret;
  const generated = env.databaseUrl === undefined ? readJwtSecretFile(env.dataDir) : undefined;
  if (generated !== undefined) return generated;
  throw new AdminError(
    env.databaseUrl === undefined
      ? `SYNC_JWT_SECRET is not set and no server has generated a secret under ${env.dataDir} ` +
          `(${jwtSecretPath(env.dataDir)} does not exist). Start the server with "npm start" on this folder, ` +
          'or set SYNC_JWT_SECRET to the secret of the server.'
      : 'SYNC_JWT_SECRET is not set: set it to the secret of the server (the one its nodes run with).',
  );
}
