import { ENTITY_FIELDS, type EntityType } from '../../shared/entities.ts';
import {
  HISTORY_LIMIT_CAP,
  HISTORY_LIMIT_DEFAULT,
  type ConflictDecision,
  type HistoryEntry,
  type HistoryResponse,
  type Operation,
} from '../../shared/protocol.ts';
import type { Pool } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import { tableOf } from '../upload/plan.ts';

/** A position in one record's history: entries strictly older than (serverVersion, commit time in µs). */
interface Before {
  version: string;
  micros: string;
}

const BEFORE = /^h(\d{1,19})\.(\d{1,19})$/;

function encodeBefore(before: Before): string {
  return `h${before.version}.${before.micros}`;
}

/** The largest bigint (a server_version), and the last microsecond of year 9999 after the epoch. */
const MAX_VERSION = 2n ** 63n - 1n;
const MAX_MICROS = 253_402_300_799_999_999n;

function decodeBefore(text: string): Before {
  const m = BEFORE.exec(text);
  // Within what the query's bigint and timestamp arithmetic can hold: past it Postgres would fail the read.
  if (m === null || BigInt(m[1]!) > MAX_VERSION || BigInt(m[2]!) > MAX_MICROS) {
    throw new SyncError('BAD_REQUEST', 'before is not a position this server gave', [
      { field: 'before', message: 'use the `before` of a previous answer' },
    ]);
  }
  return { version: m[1]!, micros: m[2]! };
}

interface HistoryRow {
  server_version: string;
  micros: string;
  operation: Operation;
  committed_at: string;
  edited_at: string | null;
  origin_user_id: string | null;
  origin_client_id: string | null;
  origin_outbox_event_id: string | null;
  decision: ConflictDecision | null;
  /** As sync_record_history gives them (010_history_in_events.sql): a CREATE's and a DELETE's values only. */
  changes: Record<string, unknown>;
}

export interface HistoryQuery {
  tenantId: string;
  entityType: EntityType;
  entityId: string;
  limit?: number | undefined;
  before?: string | undefined;
  /**
   * The type's hidden fields now (sync rule hiddenFields): never stored, and also left out of entries
   * stored before the field was hidden.
   */
  hidden?: readonly string[] | undefined;
}

/**
 * One record's history in a tenant, newest first (by serverVersion, then commit time: an ACCEPT_SERVER
 * entry follows the change it accepted). A record of which the tenant has neither a history entry nor a current row is 404
 * UNKNOWN_ENTITY, whether it never existed or belongs to another tenant.
 */
export async function readHistory(pool: Pool, query: HistoryQuery): Promise<HistoryResponse> {
  const limit = Math.min(query.limit ?? HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_CAP);
  const before = query.before === undefined ? null : decodeBefore(query.before);
  const result = await pool.query<HistoryRow>(
    `SELECT server_version::text, (extract(epoch FROM committed_at) * 1000000)::bigint::text AS micros,
            operation, to_json(committed_at) #>> '{}' AS committed_at,
            to_json(edited_at) #>> '{}' AS edited_at, origin_user_id, origin_client_id,
            origin_outbox_event_id, decision, changes
       FROM sync_record_history
      WHERE entity_id = $2 AND tenant_id = $1 AND entity_type = $3
        AND ($4::bigint IS NULL
             OR (server_version, committed_at)
                < ($4::bigint, 'epoch'::timestamptz + $5::bigint * interval '1 microsecond'))
      ORDER BY server_version DESC, committed_at DESC
      LIMIT $6`,
    [
      query.tenantId,
      query.entityId,
      query.entityType,
      before?.version ?? null,
      before?.micros ?? null,
      limit + 1,
    ],
  );
  const rows = result.rows.slice(0, limit);
  if (rows.length === 0 && before === null && !(await exists(pool, query))) {
    throw new SyncError('UNKNOWN_ENTITY', `no ${query.entityType} ${query.entityId} in this tenant`);
  }
  const last = rows.at(-1);
  const hidden = new Set(query.hidden ?? []);
  const response: HistoryResponse = { entries: rows.map((row) => entryOf(query.entityType, row, hidden)) };
  if (result.rows.length > limit && last !== undefined) {
    response.before = encodeBefore({ version: last.server_version, micros: last.micros });
  }
  return response;
}

/** The record exists now, though its history is gone (pruned, or written before history was on). */
async function exists(pool: Pool, query: HistoryQuery): Promise<boolean> {
  const found = await pool.query(
    `SELECT 1 FROM "${tableOf(query.entityType)}" WHERE tenant_id = $1 AND id = $2`,
    [query.tenantId, query.entityId],
  );
  return found.rowCount !== 0;
}

function entryOf(type: EntityType, row: HistoryRow, hidden: ReadonlySet<string>): HistoryEntry {
  const desk = row.origin_outbox_event_id !== null;
  const origin: HistoryEntry['origin'] = { kind: desk ? 'DESK' : 'SERVER' };
  if (row.origin_user_id !== null) origin.userId = row.origin_user_id;
  if (row.origin_client_id !== null) origin.clientId = row.origin_client_id;
  if (row.origin_outbox_event_id !== null) origin.outboxEventId = row.origin_outbox_event_id;
  const entry: HistoryEntry = {
    serverVersion: Number(row.server_version),
    operation: row.operation,
    committedAt: isoOf(row.committed_at),
    origin,
    changes: changesOf(type, row, hidden),
  };
  if (row.edited_at !== null) entry.editedAt = isoOf(row.edited_at);
  if (row.decision !== null) entry.decision = row.decision;
  return entry;
}

/**
 * The stored changes as the protocol says them (a CREATE from null, a DELETE to null), in the order of the
 * type's fields (shared/entities.ts; others after, as stored): a CREATE read from a jsonb payload has its
 * keys in jsonb's order, shortest first, which is no order a reader expects.
 */
function changesOf(type: EntityType, row: HistoryRow, hidden: ReadonlySet<string>): HistoryEntry['changes'] {
  const fields = ENTITY_FIELDS[type];
  const rank = (field: string): number => {
    const at = fields.indexOf(field);
    return at < 0 ? fields.length : at;
  };
  const stored = Object.entries(row.changes).sort(([a], [b]) => rank(a) - rank(b));
  const changes: HistoryEntry['changes'] = {};
  for (const [field, value] of stored) {
    if (hidden.has(field)) continue;
    changes[field] =
      row.operation === 'UPDATE'
        ? (value as HistoryEntry['changes'][string])
        : row.operation === 'CREATE'
          ? { from: null, to: value }
          : { from: value, to: null };
  }
  return changes;
}

/** Postgres' JSON form of a timestamptz ('2024-11-28T08:02:00.123456+00:00') as the server prints times. */
function isoOf(text: string): string {
  return new Date(text).toISOString();
}
