import type { Logger } from 'pino';
import type { EntityType } from '../../shared/entities.ts';
import type { OutboxEvent, SyncUpResponse } from '../../shared/protocol.ts';
import type { SyncRules } from '../config/rules.ts';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.ts';
import { isPgError, isTransactionRace, isTransientDatabaseError, SQLSTATE } from '../db/sqlstate.ts';
import { SyncError } from '../errors.ts';
import { storableText } from '../../shared/text.ts';
import { applyOne, applyWrites } from './apply.ts';
import { rowToPayload, type ColumnCatalog } from './columns.ts';
import { emitOrigin, type ConflictDecision, type OriginOp } from '../capture/origin.ts';
import {
  decide,
  emptyState,
  entityKey,
  tableOf,
  type Decision,
  type EntityState,
  type PlannedWrite,
} from './plan.ts';
import { ENTITY_REFERENCES } from './references.ts';
import { isSchemaChange, rejectionOf } from './database-rejection.ts';
import { validateEvent, type Rejection, type ValidEvent } from './validate.ts';

export interface UploadDeps {
  pool: Pool;
  rules: SyncRules;
  catalog: ColumnCatalog;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
}

/** Who uploads: the token's tenant and user, and the desk's clientId. */
export interface Uploader {
  tenantId: string;
  userId: string;
  clientId: string;
}

type Ack = SyncUpResponse['acknowledged'][number];
type Conflict = SyncUpResponse['conflicts'][number];
type Rejected = SyncUpResponse['rejected'][number];

/** The answer for one outbox event; stored, and given again to any later request with the same id. */
export type EventOutcome =
  | { list: 'acknowledged'; entry: Ack }
  | { list: 'conflicts'; entry: Conflict }
  | { list: 'rejected'; entry: Rejected };

export type Mode = 'fast' | 'careful';

/** A parallel request stored some of the same outbox ids first: redo the batch, they are answered then. */
class UploadRaceError extends Error {
  constructor() {
    super('a parallel request stored some of these outbox events first');
  }
}
const MAX_ATTEMPTS = 4;

/** Deadlock, serialization failure, or a parallel request with the same outbox ids: redone at once. */
function isRace(error: unknown): boolean {
  return error instanceof UploadRaceError || isTransactionRace(error);
}

function unavailable(cause: unknown): SyncError {
  return new SyncError(
    'UNAVAILABLE',
    'the database is busy or restarting; nothing was applied, retry later',
    undefined,
    {
      cause,
    },
  );
}

/**
 * Applies a batch of outbox events in one transaction and returns one outcome per event, in order. The fast
 * path plans every event, then writes with a few set-based statements; if a write fails there (a race with
 * another writer, a constraint the planner could not see), the batch is redone on the careful path: each
 * write under its own savepoint, so one bad event does not undo the rest.
 */
export async function uploadEvents(
  deps: UploadDeps,
  who: Uploader,
  events: OutboxEvent[],
): Promise<EventOutcome[]> {
  let mode: Mode = 'fast';
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(deps.pool, (client) => runBatch(client, deps, who, events, mode));
    } catch (error) {
      // A failure that may pass is not a verdict on the events: nothing is stored, the desk retries.
      if (isRace(error)) {
        if (attempt >= MAX_ATTEMPTS) throw unavailable(error);
        continue;
      }
      if (isTransientDatabaseError(error)) throw unavailable(error);
      if (mode === 'fast' && isPgError(error)) {
        deps.log.debug({ err: error }, 'set-based upload failed; redoing the batch event by event');
        mode = 'careful';
        continue;
      }
      throw error;
    }
  }
}

export interface Slot {
  event: OutboxEvent;
  serverEventId: string;
  valid?: ValidEvent;
  rejection?: Rejection;
  decision?: Decision;
  versionAfter?: number;
}

async function runBatch(
  client: PoolClient,
  deps: UploadDeps,
  who: Uploader,
  events: OutboxEvent[],
  mode: Mode,
): Promise<EventOutcome[]> {
  const { tenantId } = who;
  const ids = [...new Set(events.map((e) => e.id))];
  const stored = await readStoredOutcomes(client, tenantId, ids);
  const serverEventIds = await allocateServerEventIds(client, ids.length - stored.size);
  const slots = new Map<string, Slot>();
  for (const event of events) {
    if (stored.has(event.id) || slots.has(event.id)) continue;
    const serverEventId = serverEventIds.pop();
    if (serverEventId === undefined) throw new Error('server event ids exhausted');
    const checked = validateEvent(event, tenantId, deps.rules);
    slots.set(
      event.id,
      checked.ok
        ? { event, serverEventId, valid: checked.value }
        : { event, serverEventId, rejection: checked.rejection },
    );
  }

  const fresh = await settle(client, deps, who, [...slots.values()], mode);
  const recorded = await recordOutcomes(client, who, [...slots.values()], fresh);
  if (recorded !== slots.size) throw new UploadRaceError();
  return events.map((event) => {
    const outcome = fresh.get(event.id) ?? stored.get(event.id);
    if (outcome === undefined) throw new Error(`no outcome for outbox event ${event.id}`);
    return outcome;
  });
}

/**
 * Decides and applies claimed events (in order) and returns their outcomes. Shared by uploads and by
 * conflict resolution, which settles one synthetic event (`decision`: recorded in its history entry).
 */
export async function settle(
  client: PoolClient,
  deps: UploadDeps,
  who: Uploader,
  slots: Slot[],
  mode: Mode,
  decision: ConflictDecision | null = null,
): Promise<Map<string, EventOutcome>> {
  const { tenantId } = who;
  const states = await loadStates(client, tenantId, slots);
  const lookup = (type: EntityType, id: string): EntityState | undefined => states.get(entityKey(type, id));
  const deleteCount = slots.filter((s) => s.valid !== undefined && s.event.operation === 'DELETE').length;
  const deleteVersions = await allocateVersions(client, deleteCount);
  const nextDeleteVersion = (): number => {
    const version = deleteVersions.shift();
    if (version === undefined) throw new Error('delete versions exhausted');
    return version;
  };

  const editedAt = new Map(slots.map((slot) => [slot.event.id, editTimeOf(slot.event)]));
  const originOp = (write: PlannedWrite): OriginOp => [
    write.type,
    write.entityId,
    write.outboxEventId,
    write.deleteVersion,
    editedAt.get(write.outboxEventId) ?? null,
    decision,
  ];
  const writes: PlannedWrite[] = [];
  for (const slot of slots) {
    if (slot.valid === undefined) continue;
    const key = entityKey(slot.valid.type, slot.event.entityId);
    let state = states.get(key);
    if (state === undefined) {
      state = emptyState(slot.valid.type, slot.event.entityId);
      states.set(key, state);
    }
    if (mode === 'careful') {
      slot.decision = await decideCarefully(
        client,
        deps,
        who,
        slot.event,
        slot.valid,
        state,
        lookup,
        nextDeleteVersion,
        originOp,
      );
    } else {
      slot.decision = decide(slot.event, slot.valid, tenantId, state, lookup, nextDeleteVersion);
      if (slot.decision.kind === 'write') writes.push(slot.decision.write);
    }
  }
  if (writes.length > 0) {
    await emitOrigin(client, { clientId: who.clientId, userId: who.userId, ops: writes.map(originOp) });
    await applyWrites(client, deps.catalog, tenantId, writes);
  }

  return outcomesOf(client, deps, tenantId, slots);
}

/** When the desk made the edit (the outbox event's createdAt) as ISO 8601; null when it is not a time. */
export function editTimeOf(event: Pick<OutboxEvent, 'createdAt'>): string | null {
  const millis = Date.parse(event.createdAt);
  // Postgres timestamptz holds years 4713 BC to 294276 AD; a desk's clock is far inside that or wrong.
  if (!Number.isFinite(millis) || millis < Date.UTC(1970, 0, 1) || millis > Date.UTC(9999, 11, 31))
    return null;
  return new Date(millis).toISOString();
}

/** The careful path: one event's write under its own savepoint; a failing write becomes a rejection. */
async function decideCarefully(
  client: PoolClient,
  deps: UploadDeps,
  who: Uploader,
  event: OutboxEvent,
  valid: ValidEvent,
  state: EntityState,
  lookup: (type: EntityType, id: string) => EntityState | undefined,
  nextDeleteVersion: () => number,
  originOp: (write: PlannedWrite) => OriginOp,
): Promise<Decision> {
  const before = { ...state, ackedBases: new Set(state.ackedBases) };
  const decision = decide(event, valid, who.tenantId, state, lookup, nextDeleteVersion);
  if (decision.kind !== 'write') return decision;
  await client.query('SAVEPOINT upload_event');
  try {
    await emitOrigin(client, {
      clientId: who.clientId,
      userId: who.userId,
      ops: [originOp(decision.write)],
    });
    await applyOne(client, deps.catalog, who.tenantId, decision.write);
    await client.query('RELEASE SAVEPOINT upload_event');
    return decision;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT upload_event');
    Object.assign(state, before);
    if (!isPgError(error) || isTransientDatabaseError(error) || isSchemaChange(error)) throw error;
    if (isPgError(error, SQLSTATE.UNIQUE_VIOLATION) && event.operation === 'CREATE') {
      // Another writer created the same id between our read and our insert: the row exists, a conflict.
      const [row] = await fetchRows(client, who.tenantId, valid.type, [event.entityId], false);
      if (row !== undefined) {
        return {
          kind: 'conflict',
          reason: `${valid.type} ${event.entityId} already exists`,
          state: {
            ...emptyState(valid.type, event.entityId),
            exists: true,
            version: Number(row.server_version),
            row,
          },
        };
      }
    }
    return { kind: 'rejected', rejection: rejectionOf(error, valid.type, event, tableOf(valid.type)) };
  }
}

interface StoredRow {
  outbox_event_id: string;
  outcome: string;
  response: EventOutcome | null;
  server_event_id: number;
  entity_id: string;
  server_version: number | null;
}

/** Answers stored by earlier requests. An acknowledgement is rebuilt from its columns; others are stored whole. */
async function readStoredOutcomes(
  client: PoolClient,
  tenantId: string,
  ids: string[],
): Promise<Map<string, EventOutcome>> {
  if (ids.length === 0) return new Map();
  const result = await client.query<StoredRow>(
    `SELECT outbox_event_id, outcome, response, server_event_id, entity_id, server_version
       FROM sync_upload_results WHERE tenant_id = $1 AND outbox_event_id = ANY($2::uuid[])`,
    [tenantId, ids],
  );
  const stored = new Map<string, EventOutcome>();
  for (const row of result.rows) {
    if (row.response !== null) {
      stored.set(row.outbox_event_id, row.response);
    } else if (row.outcome === 'ACKNOWLEDGED' && row.server_version !== null) {
      stored.set(row.outbox_event_id, {
        list: 'acknowledged',
        entry: {
          outboxEventId: row.outbox_event_id,
          serverEventId: String(row.server_event_id),
          entityId: row.entity_id,
          serverVersion: row.server_version,
        },
      });
    }
  }
  return stored;
}

async function fetchRows(
  client: PoolClient,
  tenantId: string,
  type: EntityType,
  ids: string[],
  lock: boolean,
): Promise<Record<string, unknown>[]> {
  if (ids.length === 0) return [];
  const result = await client.query<{ row: Record<string, unknown> }>(
    `SELECT to_jsonb(t) AS row FROM "${tableOf(type)}" t WHERE tenant_id = $1 AND id = ANY($2::uuid[])
     ORDER BY id ${lock ? 'FOR UPDATE' : ''}`,
    [tenantId, [...new Set(ids)].sort()],
  );
  return result.rows.map((r) => r.row);
}

function groupByType(items: { type: EntityType; id: string }[]): Map<EntityType, string[]> {
  const byType = new Map<EntityType, string[]>();
  for (const { type, id } of items) byType.set(type, [...(byType.get(type) ?? []), id]);
  return byType;
}

/**
 * Reads what the batch needs to decide: the target rows (locked, in a fixed order so two batches never
 * deadlock on them), the rows they reference, and the deletion version of targets already deleted.
 */
async function loadStates(
  client: PoolClient,
  tenantId: string,
  slots: Slot[],
): Promise<Map<string, EntityState>> {
  const states = new Map<string, EntityState>();
  const remember = (type: EntityType, row: Record<string, unknown>): void => {
    const id = String(row.id);
    states.set(entityKey(type, id), {
      ...emptyState(type, id),
      exists: true,
      version: Number(row.server_version),
      row,
    });
  };
  const valid = slots.filter((s): s is Slot & { valid: ValidEvent } => s.valid !== undefined);
  const targets = groupByType(valid.map((s) => ({ type: s.valid.type, id: s.event.entityId })));
  for (const [type, ids] of targets)
    for (const row of await fetchRows(client, tenantId, type, ids, true)) remember(type, row);

  const references: { type: EntityType; id: string }[] = [];
  for (const slot of valid) {
    const existing = states.get(entityKey(slot.valid.type, slot.event.entityId))?.row ?? {};
    for (const ref of ENTITY_REFERENCES[slot.valid.type]) {
      const id = slot.valid.fields[ref.column] ?? (ref.type === 'EXAM' ? existing[ref.column] : undefined);
      if (typeof id === 'string' && !states.has(entityKey(ref.type, id)))
        references.push({ type: ref.type, id });
    }
  }
  for (const [type, ids] of groupByType(references)) {
    for (const row of await fetchRows(client, tenantId, type, ids, false)) remember(type, row);
  }

  const gone = valid.filter(
    (s) => s.event.operation === 'DELETE' && !states.has(entityKey(s.valid.type, s.event.entityId)),
  );
  if (gone.length > 0) {
    const result = await client.query<{ entity_type: EntityType; entity_id: string; server_version: number }>(
      `SELECT DISTINCT ON (entity_id, entity_type) entity_type, entity_id, server_version FROM sync_events
        WHERE tenant_id = $1 AND entity_id = ANY($2::uuid[]) AND operation = 'DELETE'
        ORDER BY entity_id, entity_type, id DESC`,
      [tenantId, gone.map((s) => s.event.entityId)],
    );
    for (const row of result.rows) {
      states.set(entityKey(row.entity_type, row.entity_id), {
        ...emptyState(row.entity_type, row.entity_id),
        deletedVersion: row.server_version,
      });
    }
  }
  return states;
}

async function allocateServerEventIds(client: PoolClient, count: number): Promise<string[]> {
  if (count === 0) return [];
  const result = await client.query<{ v: number }>(
    `SELECT nextval(pg_get_serial_sequence('sync_upload_results', 'server_event_id')) AS v
       FROM generate_series(1, $1::int) ORDER BY 1 DESC`,
    [count],
  );
  return result.rows.map((r) => String(r.v));
}

async function allocateVersions(client: PoolClient, count: number): Promise<number[]> {
  if (count === 0) return [];
  const result = await client.query<{ v: number }>(
    `SELECT nextval('server_version_seq') AS v FROM generate_series(1, $1::int) ORDER BY 1`,
    [count],
  );
  return result.rows.map((r) => r.v);
}

/** Turns decisions into protocol entries; conflicts on rows this batch wrote show the row as it is now. */
async function outcomesOf(
  client: PoolClient,
  deps: UploadDeps,
  tenantId: string,
  slots: Slot[],
): Promise<Map<string, EventOutcome>> {
  const reread = new Map<EntityType, string[]>();
  for (const slot of slots) {
    const d = slot.decision;
    if (d?.kind === 'conflict' && d.state?.touched === true) {
      reread.set(d.state.type, [...(reread.get(d.state.type) ?? []), d.state.id]);
    }
  }
  const current = new Map<string, Record<string, unknown>>();
  for (const [type, ids] of reread) {
    for (const row of await fetchRows(client, tenantId, type, ids, false))
      current.set(entityKey(type, String(row.id)), row);
  }
  const outcomes = new Map<string, EventOutcome>();
  for (const slot of slots) {
    const outboxEventId = slot.event.id;
    const d = slot.decision;
    if (slot.rejection !== undefined || d === undefined) {
      const rejection = slot.rejection ?? { code: 'VALIDATION', reason: 'not decided' };
      outcomes.set(outboxEventId, { list: 'rejected', entry: { outboxEventId, ...rejection } });
    } else if (d.kind === 'rejected') {
      outcomes.set(outboxEventId, { list: 'rejected', entry: { outboxEventId, ...d.rejection } });
    } else if (d.kind === 'conflict') {
      const row =
        d.state === null
          ? null
          : d.state.touched
            ? (current.get(entityKey(d.state.type, d.state.id)) ?? null)
            : d.state.row;
      const serverData =
        row === null || d.state === null
          ? null
          : rowToPayload(
              row,
              await deps.catalog.get(client, d.state.type),
              deps.rules.hiddenFields[d.state.type],
            );
      outcomes.set(outboxEventId, {
        list: 'conflicts',
        entry: { outboxEventId, reason: d.reason, serverData },
      });
    } else {
      const serverVersion = d.kind === 'write' ? d.write.version : d.version;
      slot.versionAfter = serverVersion;
      outcomes.set(outboxEventId, {
        list: 'acknowledged',
        entry: {
          outboxEventId,
          serverEventId: slot.serverEventId,
          entityId: slot.event.entityId,
          serverVersion,
        },
      });
    }
  }
  return outcomes;
}

const OUTCOME_OF_LIST = {
  acknowledged: 'ACKNOWLEDGED',
  conflicts: 'CONFLICT',
  rejected: 'REJECTED',
} as const;

/**
 * Stores each answer (idempotency) and its audit row in one statement. Returns how many answers were
 * stored: fewer than given means a parallel request stored some of the same ids first.
 */
export async function recordOutcomes(
  client: PoolClient,
  who: Uploader,
  slots: Slot[],
  outcomes: Map<string, EventOutcome>,
): Promise<number> {
  if (slots.length === 0) return 0;
  const rows = slots.map((slot) => {
    const outcome = outcomes.get(slot.event.id);
    if (outcome === undefined) throw new Error(`no outcome for outbox event ${slot.event.id}`);
    const d = slot.decision;
    return {
      id: slot.event.id,
      server_event_id: slot.serverEventId,
      outcome: OUTCOME_OF_LIST[outcome.list],
      // An acknowledgement is rebuilt from the columns: only conflicts and rejections keep their body.
      response: outcome.list === 'acknowledged' ? null : outcome,
      // A rejected event's entityType is whatever the desk sent: kept short and storable.
      entity_type: storableText(slot.event.entityType.slice(0, 100)),
      entity_id: slot.event.entityId,
      operation: slot.event.operation,
      code: outcome.list === 'rejected' ? outcome.entry.code : null,
      // A conflict records the version the event met (null: the row is gone); a rejection never got that far.
      version_before:
        d?.kind === 'write'
          ? d.versionBefore
          : d?.kind === 'conflict' && d.state?.exists === true
            ? Number(d.state.row?.server_version ?? d.state.version)
            : null,
      version_after: slot.versionAfter ?? null,
      reason: outcome.list === 'acknowledged' ? null : outcome.entry.reason,
      edited_at: editTimeOf(slot.event),
    };
  });
  const result = await client.query<{ stored: number }>(
    `WITH x AS (
       SELECT * FROM jsonb_to_recordset($4::jsonb) AS x(id uuid, server_event_id bigint, outcome text, response jsonb,
         entity_type text, entity_id uuid, operation text, code text, version_before bigint, version_after bigint,
         reason text, edited_at timestamptz)
     ), stored AS (
       INSERT INTO sync_upload_results (tenant_id, outbox_event_id, server_event_id, client_id, entity_type,
                                        entity_id, operation, outcome, server_version, response, edited_at)
       SELECT $1, id, server_event_id, $3, entity_type, entity_id, operation, outcome, version_after, response,
              edited_at
         FROM x ORDER BY id
       ON CONFLICT DO NOTHING RETURNING 1
     ), audited AS (
       INSERT INTO sync_audit (tenant_id, user_id, client_id, outbox_event_id, entity_type, entity_id, operation,
                               outcome, code, version_before, version_after, reason)
       SELECT $1, $2, $3, id, entity_type, entity_id, operation, outcome, code, version_before, version_after, reason
         FROM x
     )
     SELECT count(*)::int AS stored FROM stored`,
    [
      who.tenantId,
      storableText(who.userId),
      storableText(who.clientId),
      // Every string of an answer or audit row is made storable: jsonb refuses NUL and lone surrogates.
      JSON.stringify(rows, (_key, value: unknown) =>
        typeof value === 'string' ? storableText(value) : value,
      ),
    ],
  );
  return result.rows[0]?.stored ?? 0;
}
