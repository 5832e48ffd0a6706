/**
 * Postgres errors by named SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html),
 * recognised through one helper instead of literals scattered in the code.
 */
export const SQLSTATE = {
  NOT_NULL_VIOLATION: '23502',
  FOREIGN_KEY_VIOLATION: '23503',
  UNIQUE_VIOLATION: '23505',
  CHECK_VIOLATION: '23514',
  SERIALIZATION_FAILURE: '40001',
  DEADLOCK_DETECTED: '40P01',
  QUERY_CANCELED: '57014',
  OBJECT_IN_USE: '55006',
  UNDEFINED_TABLE: '42P01',
  UNDEFINED_COLUMN: '42703',
  UNDEFINED_OBJECT: '42704',
  DUPLICATE_OBJECT: '42710',
  INVALID_NAME: '42602',
} as const;
export type SqlState = (typeof SQLSTATE)[keyof typeof SQLSTATE];

/** A driver error from Postgres: it carries a five-character SQLSTATE in `code`. */
export interface PgError extends Error {
  code: string;
  column?: string;
  constraint?: string;
  detail?: string;
}

export function isPgError(error: unknown, ...codes: string[]): error is PgError {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  return codes.length === 0 || codes.includes(code);
}

/**
 * Classes of failure that are not the request's fault and may pass: connection exceptions (08), insufficient
 * resources (53), object not in prerequisite state such as a lock not available (55), operator intervention
 * such as a shutdown or a statement timeout (57), system errors (58).
 */
const TRANSIENT_CLASSES = new Set(['08', '53', '55', '57', '58']);
// Node's socket errors when the database goes away mid-request.
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);

/** A race between transactions: redone at once, it usually succeeds. */
export function isTransactionRace(error: unknown): boolean {
  return isPgError(error, SQLSTATE.SERIALIZATION_FAILURE, SQLSTATE.DEADLOCK_DETECTED);
}

/**
 * True for a failure that may pass if the same request is sent again later: the database restarting, out
 * of connections, a statement timeout, a lost connection, or a transaction race that outlived its retries.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (isPgError(error)) return TRANSIENT_CLASSES.has(error.code.slice(0, 2)) || isTransactionRace(error);
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && TRANSIENT_ERRNOS.has(code)) return true;
  return (
    typeof message === 'string' &&
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
      message,
    )
  );
}
