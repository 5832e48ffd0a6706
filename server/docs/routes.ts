import { WS_CLOSE, type Role } from '../../shared/protocol.ts';
import type { ErrorCode } from '../../shared/errors.ts';
import { SOCKET_ROLES } from '../socket/handshake.ts';
import type { ComponentName } from './schemas.ts';

export interface Answer {
  status: number;
  description: string;
  schema?: ComponentName;
  mediaType?: string;
}

/** One route of the API as the document describes it. `path` is Fastify's form (`:param`). */
export interface RouteDoc {
  method: 'GET' | 'POST';
  path: string;
  operationId: string;
  tag: 'sync' | 'admin' | 'operations';
  summary: string;
  description: string;
  /** 'bearer': the /api authentication hook; 'socket': the token is checked after the upgrade; 'none'. */
  auth: 'bearer' | 'socket' | 'none';
  /**
   * Only for a route whose roles are not checked by a requireRole hook (the socket checks them after the
   * upgrade); the others' roles are read from their hook when the app registers them.
   */
  roles?: readonly Role[];
  params?: readonly { name: string; description: string }[];
  request?: ComponentName;
  /** The success answer: a JSON component, or another media type described in words. */
  success: Answer;
  /** Answers other than success and protocol errors (a health check's 503). */
  alternatives?: readonly Answer[];
  /** Protocol error codes this route answers with; grouped by their HTTP status in the document. */
  errors: readonly ErrorCode[];
  extensions?: Record<`x-${string}`, unknown>;
}

/**
 * What every route behind the /api authentication hook may answer besides its own errors (RATE_LIMITED: the
 * token's requests per minute; UNAVAILABLE: the database is busy or restarting; both with Retry-After).
 */
const AUTHENTICATED: readonly ErrorCode[] = [
  'UNAUTHORIZED',
  'TOKEN_EXPIRED',
  'TOKEN_REVOKED',
  'FORBIDDEN',
  'UNKNOWN_TENANT',
  'RATE_LIMITED',
  'UNAVAILABLE',
];
/** What a JSON body route may answer before it runs: bad JSON, too large, not JSON. */
const JSON_BODY: readonly ErrorCode[] = [
  'BAD_REQUEST',
  'INVALID_JSON',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
];

/**
 * Every route the server may register, described once. The document lists those the app actually
 * registered; a registered route missing here is reported at start-up and fails the docs test.
 */
export const ROUTE_DOCS: readonly RouteDoc[] = [
  {
    method: 'POST',
    path: '/api/sync/up',
    operationId: 'syncUp',
    tag: 'sync',
    summary: 'Upload a batch of outbox events',
    description:
      'Each event lands in exactly one of acknowledged, conflicts or rejected, in the order sent; one bad ' +
      'event does not fail the others. A wrong envelope fails the whole request (400) and nothing is ' +
      'applied. An outbox event id sent again gets the same answer and is applied once. Writes one ' +
      'sync_log row (direction UP).',
    auth: 'bearer',
    request: 'SyncUpRequest',
    success: { status: 200, description: 'Every event with its outcome.', schema: 'SyncUpResponse' },
    errors: [...JSON_BODY, 'TOO_MANY_EVENTS', ...AUTHENTICATED, 'NOT_READY'],
  },
  {
    method: 'POST',
    path: '/api/sync/down',
    operationId: 'syncDown',
    tag: 'sync',
    summary: 'Catch up: the next page of changes after a cursor',
    description:
      '`cursor` wins over `lastSyncTimestamp`; neither reads from the start. Call again with the returned ' +
      'cursor while `hasMore`. 410 RESYNC_REQUIRED when the cursor is older than the log retains or the ' +
      'log was rebuilt: bootstrap from the snapshot. Writes one sync_log row (direction DOWN).',
    auth: 'bearer',
    request: 'SyncDownRequest',
    success: { status: 200, description: 'A page of changes in cursor order.', schema: 'SyncDownResponse' },
    errors: [
      ...JSON_BODY,
      'INVALID_CURSOR',
      'UNKNOWN_ENTITY_TYPE',
      'RESYNC_REQUIRED',
      ...AUTHENTICATED,
      'NOT_READY',
    ],
  },
  {
    method: 'POST',
    path: '/api/sync/snapshot',
    operationId: 'syncSnapshot',
    tag: 'sync',
    summary: "Bootstrap: a page of the tenant's current rows",
    description:
      'The first page fixes the cursor, repeated on every page; continue with /api/sync/down (or the ' +
      'socket) from it after the last page. Writes one sync_log row (direction SNAPSHOT).',
    auth: 'bearer',
    request: 'SnapshotRequest',
    success: {
      status: 200,
      description: 'A page of current rows (operation CREATE).',
      schema: 'SnapshotResponse',
    },
    errors: [
      ...JSON_BODY,
      'INVALID_PAGE_TOKEN',
      'UNKNOWN_ENTITY_TYPE',
      'RESYNC_REQUIRED',
      ...AUTHENTICATED,
      'NOT_READY',
    ],
  },
  {
    method: 'POST',
    path: '/api/sync/checksum',
    operationId: 'syncChecksum',
    tag: 'sync',
    summary: 'Per entity type, the count and hash sum of current rows',
    description:
      'Answers once the log covers every change committed before the request; `cursor` is that position. ' +
      'A desk that applied everything up to it computes the same figures, or must resync that type. ' +
      '503 NOT_READY when capture does not catch up in time.',
    auth: 'bearer',
    request: 'ChecksumRequest',
    success: { status: 200, description: 'Checksums per entity type.', schema: 'ChecksumResponse' },
    errors: [...JSON_BODY, 'UNKNOWN_ENTITY_TYPE', ...AUTHENTICATED, 'NOT_READY'],
  },
  {
    method: 'POST',
    path: '/api/sync/conflicts/:outboxEventId/resolve',
    operationId: 'resolveConflict',
    tag: 'sync',
    summary: 'Resolve a conflict: accept the server or keep the local edit',
    description:
      'ACCEPT_SERVER is audited and acknowledged. KEEP_LOCAL applies `payload` on top of `serverVersion` ' +
      '(re-creating a deleted entity); if the row moved again it is a new conflict. The answer has the ' +
      "shape of /api/sync/up's with exactly one entry.",
    auth: 'bearer',
    params: [{ name: 'outboxEventId', description: 'The outbox event that met the conflict (UUID).' }],
    request: 'ResolveConflictRequest',
    success: { status: 200, description: 'The one outcome.', schema: 'SyncUpResponse' },
    errors: [...JSON_BODY, 'UNKNOWN_CONFLICT', ...AUTHENTICATED, 'NOT_READY'],
  },
  {
    method: 'POST',
    path: '/api/sync/history',
    operationId: 'syncHistory',
    tag: 'sync',
    summary: 'Who changed this record, when, from where, and what changed',
    description:
      'Newest first; `limit` defaults to 50 (above 500 is served as 500), `before` from an answer pages ' +
      'further back. Each entry names its origin (DESK: user, desk clientId, outbox event; SERVER: any ' +
      'other writer), the commit time, the desk edit time, the field changes from the previous version ' +
      '(hidden fields never appear) and the conflict decision that wrote it. Kept retention.historyDays ' +
      "whatever the change log keeps. Another tenant's record is 404 UNKNOWN_ENTITY, like a missing one.",
    auth: 'bearer',
    request: 'HistoryRequest',
    success: { status: 200, description: "The record's history, newest first.", schema: 'HistoryResponse' },
    errors: [...JSON_BODY, 'UNKNOWN_ENTITY_TYPE', 'UNKNOWN_ENTITY', ...AUTHENTICATED, 'NOT_READY'],
  },
  {
    method: 'GET',
    path: '/api/sync/ws',
    operationId: 'syncSocket',
    tag: 'sync',
    summary: 'Live push over WebSocket',
    description:
      'Upgrade to a WebSocket. The token goes in the Authorization header or as `?access_token=` (redacted ' +
      'from logs); it is checked after the upgrade, so a refusal is close code 4401. Send a `hello` first ' +
      '(WsClientMessage), then `ack`s after applying; the server sends `changes` (backlog after the hello ' +
      'cursor, then live), `resync` (then closes 4410: use the snapshot) or `error` (WsServerMessage). ' +
      'Heartbeat: ping frames; a peer silent for 3 intervals is dropped. A plain GET without upgrade is 400.',
    auth: 'socket',
    roles: SOCKET_ROLES,
    success: { status: 101, description: 'Switching Protocols: the socket is open.' },
    errors: ['BAD_REQUEST'],
    extensions: {
      'x-websocket': {
        clientMessages: { $ref: '#/components/schemas/WsClientMessage' },
        serverMessages: { $ref: '#/components/schemas/WsServerMessage' },
        closeCodes: {
          [WS_CLOSE.BAD_HELLO]: 'bad or missing hello',
          [WS_CLOSE.UNAUTHORIZED]:
            'unauthorized, also when the token expires or is revoked (reason TOKEN_REVOKED)',
          [WS_CLOSE.RESYNC_REQUIRED]: 'resync required: bootstrap from the snapshot',
          1001: 'the server is shutting down: reconnect',
        },
      },
    },
  },
  {
    method: 'GET',
    path: '/api/admin/replication',
    operationId: 'replicationStatus',
    tag: 'admin',
    summary: 'Replication status: slot, publication, capture, log, warnings',
    description:
      "The facts of `sync-admin status --json`. The log's per-tenant part holds the caller's tenant only.",
    auth: 'bearer',
    success: { status: 200, description: 'One reading of the database.', schema: 'ReplicationStatus' },
    errors: [...AUTHENTICATED, 'NOT_READY'],
  },
  {
    method: 'GET',
    path: '/api/admin/desks',
    operationId: 'listDesks',
    tag: 'admin',
    summary: "The desk tokens of the caller's tenant, with their last contact",
    description:
      'What `sync-admin desk list --tenant` prints: each registered desk token (who signed it, when, whether ' +
      'it is revoked) and its latest /up, /down or /snapshot call. Revoke one with `sync-admin desk revoke ID`.',
    auth: 'bearer',
    success: { status: 200, description: 'Oldest first.', schema: 'DeskList' },
    errors: AUTHENTICATED,
  },
  {
    method: 'GET',
    path: '/healthz',
    operationId: 'health',
    tag: 'operations',
    summary: 'Liveness and readiness',
    description:
      '200 while the database answers, 503 otherwise; says whether this process leads capture or stands by.',
    auth: 'none',
    success: { status: 200, description: 'The database answers.', schema: 'Health' },
    alternatives: [{ status: 503, description: 'The database does not answer.', schema: 'Health' }],
    errors: [],
  },
  {
    method: 'GET',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'operations',
    summary: "This process's metrics",
    description:
      'Prometheus text exposition format: capture lag, events, desks, push latency, uploads, HTTP.',
    auth: 'none',
    success: { status: 200, description: 'Prometheus text format 0.0.4.', mediaType: 'text/plain' },
    errors: [],
  },
  {
    method: 'GET',
    path: '/docs/json',
    operationId: 'openApiDocument',
    tag: 'operations',
    summary: 'This OpenAPI document',
    description: 'Built once at start-up from the shared zod schemas and the routes the server registered.',
    auth: 'none',
    success: { status: 200, description: 'OpenAPI 3.1 document.', mediaType: 'application/json' },
    errors: [],
  },
  {
    method: 'GET',
    path: '/docs',
    operationId: 'openApiPage',
    tag: 'operations',
    summary: 'This document as a page',
    description: 'A self-contained HTML page: no scripts, nothing loaded from elsewhere.',
    auth: 'none',
    success: { status: 200, description: 'HTML page.', mediaType: 'text/html' },
    errors: [],
  },
];
