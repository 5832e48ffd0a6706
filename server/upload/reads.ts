import type { EntityType } from '../../shared/entities.ts';
import { quoteIdentifier, type PoolClient } from '../db/pool.ts';
import type { EventOutcome } from './outcomes.ts';
import { emptyState, entityKey, tableOf, type EntityState } from './plan.ts';
import { ENTITY_REFERENCES } from './references.ts';
import type { ValidEvent } from './validate.ts';

/** Rows of one type by id as `to_jsonb` gives them; `lock`: FOR UPDATE, in id order (no deadlocks). */
export async function fetchRows(
  client: PoolClient,
  tenantId: string,
  type: EntityType,
  ids: string[],
  lock: boolean,
): Promise<Record<string, unknown>[]> {
  if (ids.length === 0) return [];
  const result = await client.query<{ row: Record<string, unknown> }>(
    `SELECT to_jsonb(t) AS row FROM ${quoteIdentifier(tableOf(type))} t WHERE tenant_id = $1 AND id = ANY($2::uuid[])
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

/** An event that passed its own checks, as the reads below need it. */
export interface CheckedEvent {
  entityId: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  valid: ValidEvent;
}

/**
 * Reads what the batch needs to decide: the target rows (locked, in a fixed order so two batches never
 * deadlock on them), the rows they reference, and the deletion version of targets already deleted.
 */
export async function loadStates(
  client: PoolClient,
  tenantId: string,
  events: CheckedEvent[],
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
  const targets = groupByType(events.map((e) => ({ type: e.valid.type, id: e.entityId })));
  for (const [type, ids] of targets)
    for (const row of await fetchRows(client, tenantId, type, ids, true)) remember(type, row);

  const references: { type: EntityType; id: string }[] = [];
  for (const e of events) {
    const existing = states.get(entityKey(e.valid.type, e.entityId))?.row ?? {};
    for (const ref of ENTITY_REFERENCES[e.valid.type]) {
      // A grade's exam is read even when the grade does not change it: its maxScore bounds the score.
      const id = e.valid.fields[ref.column] ?? (ref.type === 'EXAM' ? existing[ref.column] : undefined);
      if (typeof id === 'string' && !states.has(entityKey(ref.type, id)))
        references.push({ type: ref.type, id });
    }
  }
  for (const [type, ids] of groupByType(references)) {
    for (const row of await fetchRows(client, tenantId, type, ids, false)) remember(type, row);
  }

  const gone = events.filter(
    (e) => e.operation === 'DELETE' && !states.has(entityKey(e.valid.type, e.entityId)),
  );
  if (gone.length > 0) {
    const result = await client.query<{ entity_type: EntityType; entity_id: string; server_version: number }>(
      `SELECT DISTINCT ON (entity_id, entity_type) entity_type, entity_id, server_version FROM sync_events
        WHERE tenant_id = $1 AND entity_id = ANY($2::uuid[]) AND operation = 'DELETE'
        ORDER BY entity_id, entity_type, id DESC`,
      [tenantId, gone.map((e) => e.entityId)],
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

interface StoredRow {
  outbox_event_id: string;
  outcome: string;
  response: EventOutcome | null;
  server_event_id: number;
  entity_id: string;
  server_version: number | null;
}

/** Answers stored by earlier requests. An acknowledgement is rebuilt from its columns; others are stored whole. */
export async function readStoredOutcomes(
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

/** Server event ids for the answers of this request, newest first (popped in request order). */
export async function allocateServerEventIds(client: PoolClient, count: number): Promise<string[]> {
  if (count === 0) return [];
  const result = await client.query<{ v: number }>(
    `SELECT nextval(pg_get_serial_sequence('sync_upload_results', 'server_event_id')) AS v
       FROM generate_series(1, $1::int) ORDER BY 1 DESC`,
    [count],
  );
  return result.rows.map((r) => String(r.v));
}

/** Fresh server versions (for deletions), in increasing order. */
export async function allocateVersions(client: PoolClient, count: number): Promise<number[]> {
  if (count === 0) return [];
  const result = await client.query<{ v: number }>(
    `SELECT nextval('server_version_seq') AS v FROM generate_series(1, $1::int) ORDER BY 1`,
    [count],
  );
  return result.rows.map((r) => r.v);
}
