import type { EntityType } from '../../shared/entities.ts';
import type { Pool } from '../db/pool.ts';
import {
  servableCursorSql,
  TENANT_LOG_STATE_COLUMNS,
  TENANT_LOG_STATE_FROM,
  type TenantLogState,
} from './tenant-log.ts';
import { assert } from '../../shared/asserts.ts';

/** Where a page of one tenant's log starts. */
export type PageStart =
  { kind: 'after'; epoch: number; eventId: number } | { kind: 'since'; time: string } | { kind: 'beginning' };

export interface ChangesPageQuery {
  tenantId: string;
  start: PageStart;
  /** null: every type. */
  entityTypes: readonly EntityType[] | null;
  limit: number;
  /** Byte budget of the page (see changeBytesSql); its first change is read whatever its size. */
  maxBytes: number;
  /** Fields stripped from payloads at read time, per type (capture already leaves them out). */
  hiddenFields: Partial<Record<EntityType, readonly string[]>>;
  /** Also count, in the same snapshot, the changes (of these types) after the page: `remaining`. */
  countRemaining?: boolean;
}

/**
 * One keyset page of a tenant's `sync_events`, read in one statement (one snapshot) together with the
 * tenant's log state. `changesJson` is the page as a JSON array of protocol Changes, spliced from the
 * payloads' JSON text so that no payload is parsed and re-serialised here. The page is empty when the log
 * state says the start cannot be served (the caller checks `state` with checkPosition).
 */
export interface ChangesPage {
  state: TenantLogState;
  /** The id the page starts after (for `since`: found by SINCE_START_SQL). */
  afterId: number;
  changesJson: string;
  count: number;
  /** Id of the last change in the page; null when the page is empty. */
  lastId: number | null;
  hasMore: boolean;
  /** Changes (of the types read) after the page, when asked for; null otherwise. */
  remaining: number | null;
}

/**
 * The select list of one change of `sync_events` row `alias`, every column as text, in the order
 * spliceChange takes them: id, entity_type, entity_id, operation, payload (without the fields hidden by the
 * jsonb parameter `hiddenParam`, see hiddenFieldsParam), server_version, modified_at (UTC, microseconds).
 */
export function changeColumnsSql(alias: string, hiddenParam: string): string {
  const a = alias;
  return `${a}.id::text, ${a}.entity_type, ${a}.entity_id::text, ${a}.operation,
  CASE WHEN ${hiddenParam}::jsonb ? ${a}.entity_type
    THEN (${a}.payload - ARRAY(SELECT jsonb_array_elements_text(${hiddenParam}::jsonb -> ${a}.entity_type)))::text
    ELSE ${a}.payload::text
  END,
  ${a}.server_version::text,
  to_char(${a}.modified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/**
 * The most a change's JSON adds to a page beside its payload: the envelope's keys and values (ids, type,
 * version, time) and a comma. Snapshot pages count each row as its JSON's bytes plus this (snapshot.ts);
 * pages of the change log count each change exactly (changeBytesSql).
 */
export const CHANGE_ENVELOPE_BYTES = 256;

/**
 * What spliceChange writes around a payload, plus the comma before the next change, but for the id, the
 * type and the version: `{"id":"","entityType":"","entityId":"<36>","operation":"<6>","payload":,
 * "serverVersion":,"modifiedAt":"<27>"},`.
 */
const SPLICED_FIXED_BYTES = 168;

/**
 * The bytes one `sync_events` row `alias` (with its payload_bytes column) adds to a page, as spliceChange
 * writes it: exact, so a page holds as many changes as its budget allows (the upper bound
 * CHANGE_ENVELOPE_BYTES made 1M-change catch-ups take 15 % more pages). Hidden fields only shrink it.
 */
export function changeBytesSql(alias: string): string {
  const a = alias;
  return `(${a}.payload_bytes + ${SPLICED_FIXED_BYTES} + length(${a}.id::text) + octet_length(${a}.entity_type) + length(${a}.server_version::text))`;
}

/**
 * The window columns that cut a page of `sync_events` rows by bytes, over rows in id order that carry
 * `payload_bytes` (migration 008): `fits` (the row goes in the page: it is the first, or every change up to
 * and including it stays within the budget `budgetParam`) and `sent_before` (the bytes of the rows before
 * it stay within the budget: the first row that does not fit is kept as the page's "there is more" mark).
 * Both are prefixes of the rows: sizes are positive, so the running sum only grows.
 */
export function pageBudgetColumnsSql(alias: string, budgetParam: string, partition = ''): string {
  const over = `OVER (${partition} ORDER BY ${alias}.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`;
  const bytes = changeBytesSql(alias);
  return `row_number() ${over} = 1 OR sum(${bytes}) ${over} <= ${budgetParam}::bigint AS fits,
    row_number() ${over} <= 2 OR sum(${bytes}) ${over} - ${bytes} <= ${budgetParam}::bigint AS sent_before`;
}

/** The columns of changeColumnsSql, as read with rowMode 'array'. */
export type ChangeColumns = [
  id: string,
  entityType: string,
  entityId: string,
  operation: string,
  payload: string,
  serverVersion: string,
  modifiedAt: string,
];

/** One protocol Change as JSON text, spliced from the columns of changeColumnsSql: no payload is parsed. */
export function spliceChange(
  ...[id, entityType, entityId, operation, payload, serverVersion, modifiedAt]: ChangeColumns
): string {
  return `{"id":"${id}","entityType":${JSON.stringify(entityType)},"entityId":"${entityId}","operation":"${operation}","payload":${payload},"serverVersion":${serverVersion},"modifiedAt":"${modifiedAt}"}`;
}

/** Changes looked at before the one SINCE_START_SQL's search finds, for a commit time out of order. */
const SINCE_LOOK_BACK = 64;

/**
 * `since` ($4, a time) of tenant $1: the id before the tenant's first change committed after the time, or
 * null when none is. Ids follow commit order, so within a tenant commit time rises with id, and a binary
 * search over the tenant's ids finds that change without an index on commit time (migration 011): each
 * step is one probe of sync_events_tenant_id_idx (the tenant's first change at or above the middle id),
 * about log2 of the id range in all. Two transactions committing together can get their times in the
 * other order (a commit's time is taken before its commit record is written), so the SINCE_LOOK_BACK
 * changes before the one found are looked at too: a change committed after the time among them is where
 * the read starts. Every row of one transaction shares its commit time, so none is split.
 */
export const SINCE_START_SQL = `(
  WITH RECURSIVE search(lo, hi) AS (
    SELECT min(id), max(id) + 1 FROM sync_events WHERE tenant_id = $1
    UNION ALL
    SELECT CASE WHEN p.past THEN s.lo ELSE m.mid + 1 END, CASE WHEN p.past THEN m.mid ELSE s.hi END
      FROM search s
      CROSS JOIN LATERAL (SELECT s.lo + (s.hi - s.lo) / 2 AS mid) m
      CROSS JOIN LATERAL (
        SELECT coalesce((SELECT e.modified_at > $4::timestamptz FROM sync_events e
                          WHERE e.tenant_id = $1 AND e.id >= m.mid ORDER BY e.id LIMIT 1), true) AS past
      ) p
     WHERE s.lo < s.hi
  ),
  found AS (SELECT lo AS id FROM search WHERE lo >= hi)
  SELECT least(
    (SELECT e.id FROM sync_events e, found f WHERE e.tenant_id = $1 AND e.id >= f.id ORDER BY e.id LIMIT 1),
    (SELECT min(b.id) FROM (
       SELECT e.id, e.modified_at FROM sync_events e, found f
        WHERE e.tenant_id = $1 AND e.id < f.id ORDER BY e.id DESC LIMIT ${SINCE_LOOK_BACK}
     ) b WHERE b.modified_at > $4::timestamptz)
  ) - 1
)`;

// $1 tenant, $2 cursor event id, $3 cursor epoch, $4 lastSyncTimestamp, $5 entity types, $6 limit,
// $7 hidden fields as {"TYPE": ["field", …]} or null, $8 byte budget, $9 count the changes after the start.
// The count (countRemaining) walks sync_events_tenant_id_idx from the start once (its own CTE: in the
// select list it would run for every row of the page), in the page's snapshot; the page's own changes are
// taken off it in readChangesPage.
// `since`: from the tenant's first change committed after the time (SINCE_START_SQL); rows are then read
// by id, which is commit order.
// The page is read only when the start can be served, mirroring tenant-log.ts checkPosition. It is a
// LATERAL join on the one-row state, hence a nested loop that yields the page in its index order. The
// byte budget is applied there, over at most limit + 1 rows, from their stored sizes: only the payloads
// of the page are read, and the one row past it (if any) comes back without its payload.
// Every change column comes back as text, spliced into the response as is: no payload is parsed here.
export const CHANGES_PAGE_SQL = `
WITH state AS (
  SELECT ${TENANT_LOG_STATE_COLUMNS} FROM ${TENANT_LOG_STATE_FROM}
),
start AS MATERIALIZED (
  SELECT s.*,
    CASE
      WHEN $2::bigint IS NOT NULL THEN $2::bigint
      WHEN $4::timestamptz IS NOT NULL THEN coalesce(${SINCE_START_SQL}, s.tail_id)
      ELSE 0
    END AS after_id,
    CASE
      WHEN $2::bigint IS NULL THEN s.floor_id = 0
      ELSE ${servableCursorSql('$2::bigint', '$3::bigint', 's')}
    END AS can_serve
  FROM state s
),
counted AS MATERIALIZED (
  SELECT CASE WHEN $9::boolean AND st.can_serve THEN (
      SELECT count(*) FROM sync_events c
       WHERE c.tenant_id = $1 AND c.id > st.after_id
         AND ($5::text[] IS NULL OR c.entity_type = ANY ($5::text[]))
    ) ELSE -1 END AS after_start
  FROM start st
)
SELECT
  concat_ws(',', st.epoch, st.floor_id, st.last_issued_id, st.tail_id, st.after_id, n.after_start) AS state,
  p.fits,
  ${changeColumnsSql('p', '$7')}
FROM start st
CROSS JOIN counted n
LEFT JOIN LATERAL (
  SELECT b.id, b.entity_type, b.entity_id, b.operation, CASE WHEN b.fits THEN b.payload END AS payload,
    b.server_version, b.modified_at, b.fits
  FROM (
    SELECT r.*, ${pageBudgetColumnsSql('r', '$8')}
    FROM (
      SELECT e.id, e.entity_type, e.entity_id, e.operation, e.payload, e.server_version, e.modified_at,
        coalesce(e.payload_bytes, octet_length(e.payload::text)) AS payload_bytes
      FROM sync_events e
      WHERE e.tenant_id = $1
        AND e.id > st.after_id
        AND st.can_serve
        AND ($5::text[] IS NULL OR e.entity_type = ANY ($5::text[]))
      ORDER BY e.id
      LIMIT $6::integer + 1
    ) r
  ) b
  WHERE b.sent_before
  ORDER BY b.id
) p ON true`;

/** [state, fits, id, entityType, entityId, operation, payload, serverVersion, modifiedAt]; all but state
 * null on the one row of an empty page. */
type PageRow = [string, boolean | null, string | null, string, string, string, string, string, string];

export async function readChangesPage(pool: Pool, query: ChangesPageQuery): Promise<ChangesPage> {
  const { start } = query;
  const result = await pool.query<PageRow>({
    name: 'sync-down-page',
    text: CHANGES_PAGE_SQL,
    rowMode: 'array',
    values: [
      query.tenantId,
      start.kind === 'after' ? start.eventId : null,
      start.kind === 'after' ? start.epoch : null,
      start.kind === 'since' ? start.time : null,
      query.entityTypes,
      query.limit,
      hiddenFieldsParam(query.hiddenFields),
      query.maxBytes,
      query.countRemaining === true,
    ],
  });
  const rows = result.rows;
  const first = rows[0];
  assert(first !== undefined, 'the sync-down page query returns a row');
  const [epoch = 0, floorId = 0, lastIssuedId = 0, tailId = 0, afterId = 0, counted = -1] = first[0]
    .split(',')
    .map(Number);
  let count = 0;
  while (count < rows.length && count < query.limit && rows[count]![1] === true) count++;

  let json = '[';
  let previous = afterId;
  for (let i = 0; i < count; i++) {
    const [, , id, entityType, entityId, operation, payload, serverVersion, modifiedAt] = rows[i]!;
    const n = Number(id);
    // The splice below relies on the order; a plan that broke it must fail loudly, never skip a change.
    assert(id !== null && n > previous, () => `sync-down page in id order at id ${id}`);
    previous = n;
    if (i > 0) json += ',';
    json += spliceChange(id, entityType, entityId, operation, payload, serverVersion, modifiedAt);
  }
  json += ']';
  return {
    state: { epoch, floorId, lastIssuedId, tailId },
    afterId,
    changesJson: json,
    count,
    lastId: count === 0 ? null : previous,
    // Rows past the page: the one over the limit, or the first that did not fit the budget.
    hasMore: rows.length > count && first[2] !== null,
    remaining: counted < 0 ? null : Math.max(0, counted - count),
  };
}

/** Only types with hidden fields; null when there are none, so that the common case costs nothing. */
export function hiddenFieldsParam(hidden: ChangesPageQuery['hiddenFields']): string | null {
  const entries = Object.entries(hidden).filter(([, fields]) => fields !== undefined && fields.length > 0);
  return entries.length === 0 ? null : JSON.stringify(Object.fromEntries(entries));
}
