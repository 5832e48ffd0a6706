import { z } from 'zod';
import { entityTypeSchema, uuidSchema, versionSchema } from './entities.ts';
import { isStorableText } from './text.ts';
import { refusalParamsSchema } from './refusal-rules.ts';

/** Error body of every non-2xx answer. `code` is a stable UPPER_SNAKE word. */
export const errorBodySchema = z.object({
  statusCode: z.number().int(),
  code: z.string(),
  message: z.string(),
  details: z.unknown().optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const operationSchema = z.enum(['CREATE', 'UPDATE', 'DELETE']);
export type Operation = z.infer<typeof operationSchema>;

export const roleSchema = z.enum(['desk', 'admin', 'dba']);
export type Role = z.infer<typeof roleSchema>;

/** JWT claims (HS256). The tenant of a request is always the token's. */
export const tokenClaimsSchema = z.object({
  sub: z.string().min(1),
  tenantId: uuidSchema,
  role: roleSchema,
  exp: z.number().int(),
  /** Set on desk tokens sync-admin registered (desk_tokens): revocable. Absent: not revocable. */
  jti: uuidSchema.optional(),
});
export type TokenClaims = z.infer<typeof tokenClaimsSchema>;

/** A JSON object, any keys. looseObject, not record: as strict, and half the cost on a 10 000-change page. */
const jsonObject = z.looseObject({});
const timestamp = z.iso.datetime({ offset: true });
/** Stored in sync_log and the audit trail: it must be text Postgres can hold. */
const clientId = z
  .string()
  .min(1)
  .max(200)
  .refine(isStorableText, 'must not contain the NUL character or a lone UTF-16 surrogate');
const cursor = z.string().min(1).max(200);

/** One entry of the change log, as delivered to desks. `id` is the same on every redelivery. */
export const changeSchema = z.object({
  id: z.string(),
  entityType: entityTypeSchema,
  entityId: uuidSchema,
  operation: operationSchema,
  payload: jsonObject,
  serverVersion: versionSchema,
  modifiedAt: timestamp,
});
export type Change = z.infer<typeof changeSchema>;

export const outboxStatusSchema = z.enum(['PENDING', 'SENT', 'ACKNOWLEDGED', 'FAILED', 'CONFLICT']);
export type OutboxStatus = z.infer<typeof outboxStatusSchema>;

/** An outbox event's envelope; the payload is checked per entity type after the envelope passes. */
export const outboxEventSchema = z.object({
  id: uuidSchema,
  tenantId: z.string(),
  entityType: z.string(),
  entityId: uuidSchema,
  operation: operationSchema,
  payload: jsonObject,
  localVersion: versionSchema,
  createdAt: z.string(),
  attemptCount: z.number().int().nonnegative().optional(),
  status: outboxStatusSchema.optional(),
  lastAttemptAt: z.string().nullish(),
  errorMessage: z.string().nullish(),
});
export type OutboxEvent = z.infer<typeof outboxEventSchema>;

export const syncUpRequestSchema = z.object({
  clientId,
  events: z.array(outboxEventSchema),
  lastSyncTimestamp: z.string().nullish(),
});
export type SyncUpRequest = z.infer<typeof syncUpRequestSchema>;

/** Why an event was refused for good; the desk shows it and does not send the event again as is. */
export const rejectCodeSchema = z.enum([
  'VALIDATION',
  'TENANT_MISMATCH',
  'UNKNOWN_ENTITY_TYPE',
  'REFERENCE',
  'FORBIDDEN',
]);
export type RejectCode = z.infer<typeof rejectCodeSchema>;

export const syncUpResponseSchema = z.object({
  acknowledged: z.array(
    z.object({
      outboxEventId: uuidSchema,
      serverEventId: z.string(),
      entityId: uuidSchema,
      serverVersion: versionSchema,
    }),
  ),
  conflicts: z.array(
    z.object({ outboxEventId: uuidSchema, reason: z.string(), serverData: jsonObject.nullable() }),
  ),
  rejected: z.array(
    z.object({
      outboxEventId: z.string(),
      code: rejectCodeSchema,
      reason: z.string(),
      // Optional, machine-readable twin of `reason` (shared/refusal-rules.ts): a desk renders it in its language.
      rule: z.string().optional(),
      params: refusalParamsSchema.optional(),
    }),
  ),
  syncTimestamp: timestamp,
});
export type SyncUpResponse = z.infer<typeof syncUpResponseSchema>;

export const DOWN_LIMIT_CAP = 10_000;

export const syncDownRequestSchema = z.object({
  clientId,
  cursor: cursor.nullish(),
  lastSyncTimestamp: timestamp.nullish(),
  entityTypes: z.array(entityTypeSchema).min(1).optional(),
  limit: z.number().int().min(1).optional(),
  /** Ask for `remaining` (a desk's first page of a catch-up, to show "N of M"). */
  countRemaining: z.boolean().optional(),
});
export type SyncDownRequest = z.infer<typeof syncDownRequestSchema>;

export const syncDownResponseSchema = z.object({
  changes: z.array(changeSchema),
  cursor,
  hasMore: z.boolean(),
  syncTimestamp: timestamp,
  /** With countRemaining: changes of the types asked after `cursor`, counted in the page's snapshot. */
  remaining: z.number().int().nonnegative().optional(),
});
export type SyncDownResponse = z.infer<typeof syncDownResponseSchema>;

export const snapshotRequestSchema = z.object({
  clientId,
  entityTypes: z.array(entityTypeSchema).min(1).optional(),
  pageToken: z.string().min(1).max(1000).optional(),
  limit: z.number().int().min(1).optional(),
});
export type SnapshotRequest = z.infer<typeof snapshotRequestSchema>;

export const snapshotResponseSchema = z.object({
  changes: z.array(changeSchema),
  pageToken: z.string().optional(),
  hasMore: z.boolean(),
  cursor,
});
export type SnapshotResponse = z.infer<typeof snapshotResponseSchema>;

export const checksumRequestSchema = z.object({
  clientId,
  entityTypes: z.array(entityTypeSchema).min(1).optional(),
});
export const checksumResponseSchema = z.object({
  // Only the types asked for: a record with enum keys would make zod 4 require every type.
  checksums: z.partialRecord(entityTypeSchema, z.object({ count: z.number().int(), sum: z.string() })),
  cursor,
});
export type ChecksumResponse = z.infer<typeof checksumResponseSchema>;

export const resolveConflictRequestSchema = z.object({
  choice: z.enum(['ACCEPT_SERVER', 'KEEP_LOCAL']),
  payload: jsonObject.optional(),
  serverVersion: versionSchema,
});
export type ResolveConflictRequest = z.infer<typeof resolveConflictRequestSchema>;

export const HISTORY_LIMIT_DEFAULT = 50;
export const HISTORY_LIMIT_CAP = 500;

/** POST /api/sync/history: one record's history, newest first; `before` pages further back. */
export const historyRequestSchema = z.object({
  entityType: entityTypeSchema,
  entityId: uuidSchema,
  /** Default 50; above 500 is served as 500. */
  limit: z.number().int().min(1).optional(),
  before: z.string().min(1).max(200).optional(),
});
export type HistoryRequest = z.infer<typeof historyRequestSchema>;

export const conflictDecisionSchema = z.enum(['KEEP_LOCAL', 'ACCEPT_SERVER']);
export type ConflictDecision = z.infer<typeof conflictDecisionSchema>;

/**
 * One change of a record: who made it (a desk upload, or SERVER: any other writer), when, and what changed
 * from the previous version (every field for a CREATE; hidden fields never appear).
 */
export const historyEntrySchema = z.object({
  serverVersion: versionSchema,
  operation: operationSchema,
  committedAt: timestamp,
  /** When the desk made the edit (the outbox event's createdAt). */
  editedAt: timestamp.optional(),
  origin: z.object({
    kind: z.enum(['DESK', 'SERVER']),
    userId: z.string().optional(),
    clientId: z.string().optional(),
    outboxEventId: uuidSchema.optional(),
  }),
  changes: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })),
  decision: conflictDecisionSchema.optional(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

export const historyResponseSchema = z.object({
  entries: z.array(historyEntrySchema),
  before: z.string().optional(),
});
export type HistoryResponse = z.infer<typeof historyResponseSchema>;

/** WebSocket messages, client → server. */
export const wsHelloSchema = z.looseObject({
  type: z.literal('hello'),
  clientId,
  cursor: cursor.nullable(),
  entityTypes: z.array(entityTypeSchema).min(1).optional(),
});
export const wsAckSchema = z.looseObject({ type: z.literal('ack'), cursor });
export const wsClientMessageSchema = z.discriminatedUnion('type', [wsHelloSchema, wsAckSchema]);
export type WsClientMessage = z.infer<typeof wsClientMessageSchema>;

/** WebSocket messages, server → client. */
export const wsServerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('changes'), changes: z.array(changeSchema), cursor }),
  z.object({ type: z.literal('resync'), code: z.literal('RESYNC_REQUIRED') }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type WsServerMessage = z.infer<typeof wsServerMessageSchema>;

export const WS_CLOSE = { UNAUTHORIZED: 4401, BAD_HELLO: 4400, RESYNC_REQUIRED: 4410 } as const;
