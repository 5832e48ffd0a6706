import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  ENTITY_FIELDS,
  ENTITY_TYPES,
  entityPayloadSchemas,
  entityTypeSchema,
  SERVER_MANAGED_FIELDS,
  type EntityType,
} from '../../shared/entities.ts';
import { ConfigError, describeIssues } from './env.ts';
import defaults from './sync-rules.default.json' with { type: 'json' };

const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier');
const camelField = z.string().regex(/^[a-z][A-Za-z0-9]*$/, 'must be a camelCase field name');

/**
 * The sync-rules file: which entity types sync, which fields never leave the server, limits, intervals and
 * retention. Every key is optional in the file; what is missing comes from sync-rules.default.json.
 */
export const syncRulesSchema = z.strictObject({
  entityTypes: z
    .array(entityTypeSchema)
    .min(1)
    .default([...ENTITY_TYPES]),
  /** Types desks may write through /api/sync/up; unset: every synced type. Others are rejected FORBIDDEN. */
  uploadEntityTypes: z.array(entityTypeSchema).optional(),
  hiddenFields: z
    .partialRecord(
      entityTypeSchema,
      z.array(
        camelField.refine(
          (f) => !SERVER_MANAGED_FIELDS.has(f),
          'id, tenantId, serverVersion and updatedAt always sync',
        ),
      ),
    )
    .default({}),
  /**
   * Per type, the camelCase fields desks may write (replacing the default for that type); unset types: the
   * fields the shared payload schema names. Any other field of an upload is ignored, so a column the web
   * app adds later is not writable from desks until it is listed here.
   */
  writableFields: z
    .partialRecord(
      entityTypeSchema,
      z.array(
        camelField.refine(
          (f) => !SERVER_MANAGED_FIELDS.has(f),
          'id, tenantId, serverVersion and updatedAt are set by the server',
        ),
      ),
    )
    .default({}),
  limits: z
    .strictObject({
      downDefault: z.number().int().min(1).max(10_000).default(defaults.limits.downDefault),
      downMax: z.number().int().min(1).max(10_000).default(defaults.limits.downMax),
      snapshotDefault: z.number().int().min(1).max(10_000).default(defaults.limits.snapshotDefault),
      snapshotMax: z.number().int().min(1).max(10_000).default(defaults.limits.snapshotMax),
      uploadMaxEvents: z.number().int().min(1).max(100_000).default(defaults.limits.uploadMaxEvents),
      uploadMaxBytes: z
        .number()
        .int()
        .min(1024)
        .max(1024 ** 3)
        .default(defaults.limits.uploadMaxBytes),
      /** Bytes of change JSON in one page of /down, /snapshot and the fan-out's reads (one larger change goes alone). */
      pageMaxBytes: z
        .number()
        .int()
        .min(1024)
        .max(256 * 1024 ** 2)
        .default(defaults.limits.pageMaxBytes),
      /** Requests per token (a desk token's jti, else its tenant and subject) per rolling minute, per node. */
      requestsPerMinute: z.number().int().min(1).max(10_000_000).default(defaults.limits.requestsPerMinute),
      /** Open sync sockets per tenant per node; one more is closed 1013. */
      socketsPerTenant: z.number().int().min(1).max(1_000_000).default(defaults.limits.socketsPerTenant),
    })
    .prefault({}),
  capture: z
    .strictObject({
      slotName: identifier.default(defaults.capture.slotName),
      publicationName: identifier.default(defaults.capture.publicationName),
      batchMaxRows: z.number().int().min(1).max(1_000_000).default(defaults.capture.batchMaxRows),
      // Postgres refuses a jsonb value over 256 MiB, and a batch's payloads travel as one.
      batchMaxBytes: z
        .number()
        .int()
        .min(1024)
        .max(128 * 1024 ** 2)
        .default(defaults.capture.batchMaxBytes),
      queueMaxRows: z.number().int().min(1).max(10_000_000).default(defaults.capture.queueMaxRows),
      standbyPollMs: z.number().int().min(50).max(60_000).default(defaults.capture.standbyPollMs),
    })
    .prefault({}),
  /** Record history: capture writes one entry per change (who, when, from where, what changed). */
  history: z.strictObject({ enabled: z.boolean().default(defaults.history.enabled) }).prefault({}),
  intervals: z
    .strictObject({
      wsPingMs: z.number().int().min(100).max(600_000).default(defaults.intervals.wsPingMs),
      helloTimeoutMs: z.number().int().min(100).max(600_000).default(defaults.intervals.helloTimeoutMs),
    })
    .prefault({}),
  push: z
    .strictObject({
      pauseAboveBytes: z
        .number()
        .int()
        .min(1024)
        .max(1024 ** 3)
        .default(defaults.push.pauseAboveBytes),
      // At or above pauseAboveBytes a paused desk would resume at once, never letting its socket drain.
      resumeBelowBytes: z
        .number()
        .int()
        .min(0)
        .max(1024 ** 3)
        .default(defaults.push.resumeBelowBytes),
      slowDeskCloseMs: z.number().int().min(100).max(3_600_000).default(defaults.push.slowDeskCloseMs),
      closeGraceMs: z.number().int().min(50).max(60_000).default(defaults.push.closeGraceMs),
      hubReadLimit: z.number().int().min(1).max(100_000).default(defaults.push.hubReadLimit),
    })
    .prefault({}),
  ops: z
    .strictObject({
      walWarnBytes: z.number().int().min(0).default(defaults.ops.walWarnBytes),
      walCriticalBytes: z.number().int().min(0).default(defaults.ops.walCriticalBytes),
      slotCheckSeconds: z.number().min(1).max(3600).default(defaults.ops.slotCheckSeconds),
      heartbeatSeconds: z.number().min(1).max(3600).default(defaults.ops.heartbeatSeconds),
    })
    .prefault({}),
  retention: z
    .strictObject({
      syncEventsDays: z.number().min(0).default(defaults.retention.syncEventsDays),
      syncLogDays: z.number().min(0).default(defaults.retention.syncLogDays),
      auditDays: z.number().min(0).default(defaults.retention.auditDays),
      /** Record history (sync_history), kept whatever sync_events keeps; 0 keeps it forever. */
      historyDays: z.number().min(0).default(defaults.retention.historyDays),
      pruneEveryMinutes: z.number().min(0).default(defaults.retention.pruneEveryMinutes),
    })
    .prefault({}),
});

export type SyncRules = z.infer<typeof syncRulesSchema>;

export function parseSyncRules(input: unknown, source = 'sync-rules'): SyncRules {
  const parsed = syncRulesSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(source, describeIssues(parsed.error));
  const rules = parsed.data;
  const problems: string[] = [];
  if (rules.limits.downDefault > rules.limits.downMax)
    problems.push('limits.downDefault: must not exceed limits.downMax');
  if (rules.limits.snapshotDefault > rules.limits.snapshotMax) {
    problems.push('limits.snapshotDefault: must not exceed limits.snapshotMax');
  }
  if (rules.push.resumeBelowBytes >= rules.push.pauseAboveBytes) {
    problems.push('push.resumeBelowBytes: must be below push.pauseAboveBytes');
  }
  if (rules.ops.walWarnBytes > rules.ops.walCriticalBytes) {
    problems.push('ops.walWarnBytes: must not exceed ops.walCriticalBytes');
  }
  for (const [type, fields] of Object.entries(rules.writableFields) as [EntityType, string[]][]) {
    const shape: Record<string, z.ZodType> = entityPayloadSchemas[type].shape;
    const missing = ENTITY_FIELDS[type].filter(
      (field) => shape[field]?.safeParse(undefined).success === false && !fields.includes(field),
    );
    if (missing.length > 0) {
      problems.push(`writableFields.${type}: must list the required fields ${missing.join(', ')}`);
    }
  }
  const unsynced = (rules.uploadEntityTypes ?? []).filter((type) => !rules.entityTypes.includes(type));
  if (unsynced.length > 0) problems.push(`uploadEntityTypes: ${unsynced.join(', ')} not in entityTypes`);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return rules;
}

/** Reads the sync-rules file at `path`, or the documented defaults when no path is given. */
export function loadSyncRules(path: string | undefined): SyncRules {
  if (path === undefined) return parseSyncRules(defaults, 'sync-rules.default.json');
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(path, [`cannot be read: ${(cause as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (cause) {
    throw new ConfigError(path, [`is not valid JSON: ${(cause as Error).message}`]);
  }
  return parseSyncRules(json, path);
}

export function acceptsUploadOf(rules: SyncRules, type: EntityType): boolean {
  return (rules.uploadEntityTypes ?? rules.entityTypes).includes(type);
}

export function syncsEntityType(rules: SyncRules, type: EntityType): boolean {
  return rules.entityTypes.includes(type);
}

/** The camelCase payload fields desks may write for `type` (sync rule `writableFields`). */
export function writableFieldsOf(rules: SyncRules, type: EntityType): readonly string[] {
  return rules.writableFields[type] ?? ENTITY_FIELDS[type];
}
