/**
 * The registry of the protocol's error codes: every `code` an error body (or a socket `error` message)
 * may carry, with its HTTP status. Server, desk and tests use these names; a code missing here cannot be
 * thrown (SyncError takes an ErrorCode) and must be given its meaning below.
 */
export const ERROR_CODES = {
  BAD_REQUEST: 400,
  VALIDATION: 400,
  INVALID_CURSOR: 400,
  INVALID_PAGE_TOKEN: 400,
  UNKNOWN_ENTITY_TYPE: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  FORBIDDEN: 403,
  UNKNOWN_TENANT: 403,
  NOT_FOUND: 404,
  UNKNOWN_CONFLICT: 404,
  UNKNOWN_DESK: 404,
  UNKNOWN_ENTITY: 404,
  RESYNC_REQUIRED: 410,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_EVENTS: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  NOT_READY: 503,
  UNAVAILABLE: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** What a client does on a code: fix the request, get a new token, start over, wait and retry, or stop. */
export type ClientAction = 'FIX_REQUEST' | 'NEW_TOKEN' | 'RESYNC' | 'RETRY_LATER' | 'STOP';

export interface ErrorMeaning {
  meaning: string;
  action: ClientAction;
}

/** Each code's meaning and what its client does (README's error table says the same in prose). */
export const ERROR_MEANINGS: Readonly<Record<ErrorCode, ErrorMeaning>> = {
  BAD_REQUEST: { meaning: 'the request is malformed; `details` lists each bad field', action: 'FIX_REQUEST' },
  VALIDATION: {
    meaning: 'a value breaks a rule of its field; the reason names the field',
    action: 'FIX_REQUEST',
  },
  INVALID_CURSOR: { meaning: 'the cursor was not issued by this server', action: 'RESYNC' },
  INVALID_PAGE_TOKEN: { meaning: 'the snapshot page token is not one this server issued', action: 'RESYNC' },
  UNKNOWN_ENTITY_TYPE: { meaning: 'an entity type this server does not sync', action: 'FIX_REQUEST' },
  INVALID_JSON: { meaning: 'the body is not JSON', action: 'FIX_REQUEST' },
  UNAUTHORIZED: { meaning: 'no token, or one this server did not sign', action: 'NEW_TOKEN' },
  TOKEN_EXPIRED: { meaning: 'the token has expired', action: 'NEW_TOKEN' },
  TOKEN_REVOKED: { meaning: "the desk's token was revoked by an administrator", action: 'NEW_TOKEN' },
  FORBIDDEN: { meaning: 'the role may not do this', action: 'STOP' },
  UNKNOWN_TENANT: { meaning: "the token's tenant does not exist", action: 'STOP' },
  NOT_FOUND: { meaning: 'no such route', action: 'STOP' },
  UNKNOWN_CONFLICT: { meaning: 'that outbox event never met a conflict in this tenant', action: 'STOP' },
  UNKNOWN_DESK: { meaning: 'no such desk token', action: 'STOP' },
  UNKNOWN_ENTITY: {
    meaning: 'no record of that type and id in this tenant (another tenant’s looks the same)',
    action: 'STOP',
  },
  RESYNC_REQUIRED: { meaning: 'the cursor is older than the log keeps', action: 'RESYNC' },
  PAYLOAD_TOO_LARGE: { meaning: 'the body is over the size limit', action: 'FIX_REQUEST' },
  TOO_MANY_EVENTS: { meaning: 'the batch has more events than the limit', action: 'FIX_REQUEST' },
  UNSUPPORTED_MEDIA_TYPE: { meaning: 'the body is not application/json', action: 'FIX_REQUEST' },
  RATE_LIMITED: { meaning: 'too many requests or sockets for this token or tenant', action: 'RETRY_LATER' },
  INTERNAL: { meaning: 'a server bug, never caused by input', action: 'RETRY_LATER' },
  NOT_READY: { meaning: 'the server is starting, stopping, or its log is behind', action: 'RETRY_LATER' },
  UNAVAILABLE: {
    meaning: 'the database is busy or restarting; nothing was applied or stored',
    action: 'RETRY_LATER',
  },
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/**
 * Codes that never reach a desk: a server process or `sync-admin` stops or restarts on them, and they reach
 * the operator in the start-up message or in the JSON log (`err.code`). Each with what it means and what the
 * operator does. They are not error bodies, so they have no HTTP status and a SyncError cannot carry them.
 */
export const OPERATOR_CODES = {
  CONFIG_INVALID: {
    meaning:
      'the environment, the sync-rules file or the JWT secret is unusable; the message names every bad key',
    operatorAction: 'fix what the message names and start again (the server exits 2, sync-admin too)',
  },
  CAPTURE_FENCED: {
    meaning:
      'capture found its stored progress moved by another writer: two captures wrote for one slot; its ' +
      'batch was rolled back and the session restarts from the last stored LSN, so nothing is stored twice',
    operatorAction:
      'nothing when it is a single log line during a leader change; when it repeats, make sure only ' +
      'school-sync servers of one version share the database and nothing else writes sync_capture_state',
  },
  // sync-admin publication add/remove refusals (exit 1, the code before the message; nothing changed).
  TABLE_NOT_FOUND: {
    meaning: 'sync-admin publication: no table of that name on the search path (or in the schema given)',
    operatorAction: 'check the name: schema.table, or "Quoted" for a mixed-case name',
  },
  NOT_A_TABLE: {
    meaning: 'sync-admin publication: the name is a view, sequence or other relation, not a table',
    operatorAction: 'publish the table the view reads from',
  },
  NO_TENANT_ID: {
    meaning:
      'sync-admin publication add: the table has no tenant_id column, so capture could not route its changes',
    operatorAction: 'add a tenant_id uuid column (the school each row belongs to), then add the table again',
  },
  SYNC_TABLE: {
    meaning:
      "sync-admin publication add: the table is one of the sync engine's own (sync_*), never published",
    operatorAction: 'nothing: these tables are read by the server itself',
  },
  PUBLICATION_MISSING: {
    meaning:
      'the publication does not exist: nothing is captured (sync-admin publication refuses; status says critical)',
    operatorAction: 'start the server once: it creates the publication (sync-rules capture.publicationName)',
  },
} as const satisfies Record<string, { meaning: string; operatorAction: string }>;
export type OperatorCode = keyof typeof OPERATOR_CODES;

export function isOperatorCode(value: unknown): value is OperatorCode {
  return typeof value === 'string' && Object.hasOwn(OPERATOR_CODES, value);
}

/**
 * The warnings of a replication status (sync-admin status, GET /api/admin/replication), most urgent kinds
 * first; what each means and what to do is README's "what each warning means" (the registry test checks it
 * names every one). Scripts key on them: never rename one.
 */
export const STATUS_WARNING_CODES = [
  'WAL_LEVEL_NOT_LOGICAL',
  'SLOT_MISSING',
  'SLOT_LOST',
  'SLOT_UNRESERVED',
  'SLOT_OTHER_DATABASE',
  'SLOT_INACTIVE',
  'WAL_RETAINED_CRITICAL',
  'WAL_RETAINED_HIGH',
  'PUBLICATION_MISSING',
  'PUBLICATION_OPERATIONS',
  'TABLE_NOT_PUBLISHED',
  'TABLE_WITHOUT_TENANT_ID',
  'REPLICA_IDENTITY_NOT_FULL',
  'CAPTURE_NO_LEADER',
] as const;
export type StatusWarningCode = (typeof STATUS_WARNING_CODES)[number];
