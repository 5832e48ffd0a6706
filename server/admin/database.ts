import pg from 'pg';
import type { Env } from '../config/env.ts';
import { createPool, type Pool } from '../db/pool.ts';
import { isPgError, SQLSTATE } from '../db/sqlstate.ts';
import { AdminError } from './command.ts';
import { embeddedUrlPath, readEmbeddedUrl } from './embedded-url.ts';

/** The database a command operates on, and where its URL came from (for messages). */
export interface DatabaseTarget {
  url: string;
  source: string;
  /** True when the URL is the one a running server recorded for its embedded Postgres. */
  embedded: boolean;
}

/** DATABASE_URL when set, else the embedded database of a server running on this data folder. */
export function resolveDatabase(env: Env): DatabaseTarget {
  if (env.databaseUrl !== undefined) return { url: env.databaseUrl, source: 'DATABASE_URL', embedded: false };
  const source = embeddedUrlPath(env.dataDir);
  let url: string | undefined;
  try {
    url = readEmbeddedUrl(env.dataDir);
  } catch (cause) {
    throw new AdminError(
      `${errorMessage(cause)}\n(the record of a running server's embedded database; set DATABASE_URL to use another)`,
      { cause },
    );
  }
  if (url === undefined) {
    throw new AdminError(
      `no database to work on: DATABASE_URL is not set and no running server was found (${source} does not exist).\n` +
        `Set DATABASE_URL, or start the server with "npm start" (it runs an embedded Postgres under ${env.dataDir}) and try again.`,
    );
  }
  return { url, source, embedded: true };
}

/** The URL without its password, fit for a message. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'an unparsable URL';
  }
}

/** Opens a small pool and proves it can connect, so a wrong URL or a stopped server is reported as such. */
export async function connect(target: DatabaseTarget): Promise<Pool> {
  const pool = createPool(target.url, { max: 2, application: 'sync-admin' });
  // An idle connection the server drops must not crash the command; the next query reports it.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
    return pool;
  } catch (cause) {
    await pool.end().catch(() => undefined);
    const where = `${describeUrl(target.url)} (from ${target.source})`;
    if (target.embedded && errorCode(cause) === 'ECONNREFUSED') {
      throw new AdminError(
        `the server that wrote ${target.source} is not running (${describeUrl(target.url)} refused the ` +
          `connection).\nStart the server with "npm start", or set DATABASE_URL.`,
        { cause },
      );
    }
    throw new AdminError(`cannot connect to ${where}: ${errorMessage(cause)}`, { cause });
  }
}

/** A Postgres error of a command's query, as a message that says what to do where we know it. */
export function describeDatabaseError(error: unknown, target: DatabaseTarget): AdminError | undefined {
  if (!(error instanceof pg.DatabaseError)) return undefined;
  if (isPgError(error, SQLSTATE.UNDEFINED_TABLE)) {
    return new AdminError(
      `${describeUrl(target.url)} has no sync schema yet (${error.message}). Start the server once, ` +
        `or run "sync-admin tenant create", which applies the migrations.`,
      { cause: error },
    );
  }
  const hint = error.hint === undefined ? '' : ` (hint: ${error.hint})`;
  return new AdminError(`database error: ${error.message}${hint}`, { cause: error });
}

function errorCode(error: unknown): string | undefined {
  if (error instanceof AggregateError) return errorCode(error.errors[0]);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Node reports a refused dual-stack connection as an AggregateError with an empty message. */
function errorMessage(error: unknown): string {
  if (error instanceof AggregateError) {
    return error.errors.map(errorMessage).join('; ') || error.message || 'connection failed';
  }
  if (error instanceof Error) return error.message || (errorCode(error) ?? error.name);
  return String(error);
}
