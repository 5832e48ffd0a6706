import pg from 'pg';

export type Pool = pg.Pool;

/** The one way an identifier (table, publication, channel) is written into SQL: double-quoted, escaped. */
export const quoteIdentifier = (identifier: string): string => pg.escapeIdentifier(identifier);
export type PoolClient = pg.PoolClient;

// int8 (server_version, sync_events.id) comes back as a JS number when it fits, else as a decimal string;
// numeric as a number. Dates stay as the strings Postgres prints so that no time zone shifts them.
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const DATE_OID = 1082;

function parseInt8(value: string): number | string {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value;
}

const typeOverrides: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return parseInt8;
    if (oid === NUMERIC_OID) return (value: string) => Number(value);
    if (oid === DATE_OID) return (value: string) => value;
    return format === 'binary'
      ? (pg.types.getTypeParser(oid, 'binary') as (value: Buffer) => unknown)
      : (pg.types.getTypeParser(oid, 'text') as (value: string) => unknown);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export function createPool(
  connectionString: string,
  options: { max?: number; application?: string; onIdleError?: (error: Error) => void } = {},
): Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.application ?? 'school-sync',
    types: typeOverrides,
  });
  // An idle connection the server ends (restart, admin termination) is dropped from the pool and reported;
  // unhandled, the event would end the process.
  pool.on(
    'error',
    options.onIdleError ??
      ((error) => process.emitWarning(`idle database connection lost: ${error.message}`)),
  );
  return pool;
}

/** A single connection outside any pool (leader lock, LISTEN). Same type parsing as the pool. */
export function createClient(connectionString: string, application = 'school-sync'): pg.Client {
  return new pg.Client({ connectionString, application_name: application, types: typeOverrides });
}

/** Runs `fn` in one transaction; rolls back and rethrows on error. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await inClientTransaction(client, fn);
  } finally {
    client.release();
  }
}

/** Runs `fn` in one transaction on a connection the caller holds (one with a session lock, say). */
export async function inClientTransaction<T>(
  client: PoolClient,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
