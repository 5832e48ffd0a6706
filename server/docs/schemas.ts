import { z } from 'zod';
import {
  changeSchema,
  checksumRequestSchema,
  checksumResponseSchema,
  errorBodySchema,
  historyEntrySchema,
  historyRequestSchema,
  historyResponseSchema,
  outboxEventSchema,
  resolveConflictRequestSchema,
  snapshotRequestSchema,
  snapshotResponseSchema,
  syncDownRequestSchema,
  syncDownResponseSchema,
  syncUpRequestSchema,
  syncUpResponseSchema,
  wsClientMessageSchema,
  wsServerMessageSchema,
} from '../../shared/protocol.ts';
import { deskListSchema } from '../auth/desk-tokens.ts';
import { replicationStatusSchema } from '../ops/status-schema.ts';
import { assert } from '../../shared/asserts.ts';

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1) as it appears in the document. */
export type JsonSchema = Record<string, unknown>;

/**
 * GET /healthz's body. The route answers it by hand (server/http/routes/health.ts); this schema only
 * documents it, so a change there must be mirrored here.
 */
const healthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  database: z.enum(['up', 'down']),
  capture: z
    .object({
      role: z.enum(['leader', 'standby']),
      lastStoredLsn: z.string().nullable(),
      eventsPerSecond: z.number(),
      queuedRows: z.number().int(),
    })
    .optional()
    .describe('Present when this process runs a capture: whether it streams the slot or stands by.'),
});

/**
 * The document's named schemas, each from the zod schema the code parses or answers with: the names are
 * those of components/schemas, and a schema used inside another becomes a $ref to its name.
 */
const COMPONENTS = {
  ErrorBody: errorBodySchema,
  Change: changeSchema,
  OutboxEvent: outboxEventSchema,
  SyncUpRequest: syncUpRequestSchema,
  SyncUpResponse: syncUpResponseSchema,
  SyncDownRequest: syncDownRequestSchema,
  SyncDownResponse: syncDownResponseSchema,
  SnapshotRequest: snapshotRequestSchema,
  SnapshotResponse: snapshotResponseSchema,
  ChecksumRequest: checksumRequestSchema,
  ChecksumResponse: checksumResponseSchema,
  ResolveConflictRequest: resolveConflictRequestSchema,
  HistoryRequest: historyRequestSchema,
  HistoryEntry: historyEntrySchema,
  HistoryResponse: historyResponseSchema,
  ReplicationStatus: replicationStatusSchema,
  DeskList: deskListSchema,
  WsClientMessage: wsClientMessageSchema,
  WsServerMessage: wsServerMessageSchema,
  Health: healthSchema,
} satisfies Record<string, z.ZodType>;

export type ComponentName = keyof typeof COMPONENTS;

export const COMPONENT_PREFIX = '#/components/schemas/';

export function componentRef(name: ComponentName): JsonSchema {
  return { $ref: `${COMPONENT_PREFIX}${name}` };
}

/**
 * Every component as JSON Schema. `io: 'input'` describes what is accepted on the wire (a version as a
 * number or a decimal string), which is also what a reader of an answer must accept. A local registry,
 * not zod's global one, so that building the document twice (two apps in one process) cannot clash.
 */
export function componentSchemas(): Record<ComponentName, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io: 'input',
    uri: (id) => `${COMPONENT_PREFIX}${id}`,
  });
  const out: Partial<Record<ComponentName, JsonSchema>> = {};
  for (const name of Object.keys(COMPONENTS) as ComponentName[]) {
    const schema = schemas[name];
    assert(schema !== undefined, () => `zod produces a JSON Schema for component ${name}`);
    // $schema and $id are the document's business (jsonSchemaDialect, the component's location).
    const { $schema: _dialect, $id: _id, ...rest } = schema;
    out[name] = rest;
  }
  return out as Record<ComponentName, JsonSchema>;
}
