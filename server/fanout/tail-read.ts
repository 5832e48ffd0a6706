import type { EntityType } from '../../shared/entities.ts';
import type { Pool } from '../db/pool.ts';
import type { CursorPosition } from '../log/cursor.ts';
import {
  changeBytesSql,
  changeColumnsSql,
  hiddenFieldsParam,
  pageBudgetColumnsSql,
  spliceChange,
  type ChangeColumns,
} from '../log/read.ts';
import { servableCursorSql, type TenantLogState } from '../log/tenant-log.ts';
import type { BatchChange } from '../log/committed-batch.ts';
import { assert } from '../../shared/asserts.ts';

/** What the hub reads for one tenant: the changes after its tail, and whether the log can serve it. */
export interface TenantTailRead {
  tenantId: string;
  /** null: the hub's first read of the tenant, which reads its state only (with tailId). */
  after: CursorPosition | null;
  /** tailId is read for a first read only (else 0: the read is unfiltered, its last change is the tail). */
  state: TenantLogState;
  /** The log's last visible id in the read's snapshot: unless `hasMore`, the read holds every change of the
   * tenant up to it. */
  visibleEnd: number;
  changes: BatchChange[];
  hasMore: boolean;
}

// $1 tenants, $2 their tail ids (null: a first read), $3 their tail epochs, $4 limit per tenant, $5 hidden
// fields, $6 byte budget of the whole read. One statement (one snapshot) reads every woken tenant's new
// changes together with the state that says whether its tail can still be served; `can_serve` mirrors
// tenant-log.ts checkPosition, which the caller applies to `state`. A first read reads the tenant's last
// change id instead of changes. The LATERAL page per tenant walks sync_events_tenant_id_idx and is cut by
// the budget on its own (read.ts pageBudgetColumnsSql); then the tenants' pages, in the order given, share
// the budget: a change goes when it fits beside those before it, or when it is the read's first. A row
// that does not go comes back without its payload and marks its tenant as having more. `w` is ordered by
// ord so that the shared budget's window needs only an incremental sort (each tenant's page on its own, in
// memory), never one sort of every row of the read with its payload.
export const TENANT_TAILS_SQL = `
WITH w AS MATERIALIZED (
  SELECT w.ord, w.tenant_id, w.after_id, w.after_epoch,
    (SELECT coalesce(max(id), 0) FROM sync_events) AS visible_end,
    coalesce(l.epoch, 0) AS epoch,
    coalesce(l.floor_id, 0) AS floor_id,
    greatest(coalesce(pg_sequence_last_value('sync_events_id_seq'::regclass), 0), coalesce(l.floor_id, 0))
      AS last_issued_id
  FROM unnest($1::uuid[], $2::bigint[], $3::integer[]) WITH ORDINALITY AS w(tenant_id, after_id, after_epoch, ord)
  LEFT JOIN sync_tenant_log l ON l.tenant_id = w.tenant_id
  ORDER BY w.ord
),
t AS (
  SELECT w.ord,
    concat_ws(',', w.epoch, w.floor_id, w.last_issued_id,
      CASE WHEN w.after_id IS NULL
        THEN coalesce((SELECT max(t.id) FROM sync_events t WHERE t.tenant_id = w.tenant_id), 0) ELSE 0 END,
      w.visible_end
    ) AS state,
    p.*
  FROM w
  LEFT JOIN LATERAL (
    SELECT b.* FROM (
      SELECT r.*, ${pageBudgetColumnsSql('r', '$6')}
      FROM (
        SELECT e.id, e.entity_type, e.entity_id, e.operation, e.payload, e.server_version, e.modified_at,
          coalesce(e.payload_bytes, octet_length(e.payload::text)) AS payload_bytes
        FROM sync_events e
        WHERE e.tenant_id = w.tenant_id
          AND e.id > w.after_id
          AND ${servableCursorSql('w.after_id', 'w.after_epoch', 'w')}
        ORDER BY e.id
        LIMIT $4::integer + 1
      ) r
    ) b
    WHERE b.sent_before
    ORDER BY b.id
  ) p ON true
),
q AS (
  SELECT t.ord, t.state, t.id, t.entity_type, t.entity_id, t.operation, t.payload, t.server_version,
    t.modified_at,
    t.fits AND (sum(g.bytes) OVER round = g.bytes OR sum(g.bytes) OVER round <= $6::bigint) AS goes
  FROM t CROSS JOIN LATERAL (
    SELECT CASE WHEN t.fits THEN ${changeBytesSql('t')} ELSE 0 END AS bytes
  ) g
  WINDOW round AS (ORDER BY t.ord, t.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT
  p.ord::integer,
  p.state,
  p.goes,
  ${changeColumnsSql('p', '$5')}
FROM (
  SELECT q.ord, q.state, q.goes, q.id, q.entity_type, q.entity_id, q.operation,
    CASE WHEN q.goes THEN q.payload END AS payload, q.server_version, q.modified_at
  FROM q
) p
ORDER BY p.ord, p.id`;

type TailRow = [ord: number, state: string, goes: boolean | null, ...change: ChangeColumns | NullColumns];
type NullColumns = [null, null, null, null, null, null, null];

/**
 * Reads, in one statement, up to `limit` changes of each tenant after its position (every type; hidden
 * fields stripped), at most `maxBytes` of them in all. Results come back in the order of `tails`.
 */
export async function readTenantTails(
  pool: Pool,
  tails: readonly { tenantId: string; after: CursorPosition | null }[],
  options: {
    limit: number;
    /** Bytes of changes the whole read may return (the first change goes whatever its size). */
    maxBytes: number;
    hiddenFields: Partial<Record<EntityType, readonly string[]>>;
  },
): Promise<TenantTailRead[]> {
  const result = await pool.query<TailRow>({
    name: 'fanout-tenant-tails',
    text: TENANT_TAILS_SQL,
    rowMode: 'array',
    values: [
      tails.map((t) => t.tenantId),
      tails.map((t) => t.after?.eventId ?? null),
      tails.map((t) => t.after?.epoch ?? null),
      options.limit,
      hiddenFieldsParam(options.hiddenFields),
      options.maxBytes,
    ],
  });
  const reads: TenantTailRead[] = tails.map((t) => ({
    tenantId: t.tenantId,
    after: t.after,
    state: { epoch: 0, floorId: 0, lastIssuedId: 0, tailId: 0 },
    visibleEnd: 0,
    changes: [],
    hasMore: false,
  }));
  const seen = new Set<number>();
  for (const row of result.rows) {
    const read = reads[row[0] - 1];
    assert(read !== undefined, () => `fanout tail read returns only asked tenants, not ${row[0]}`);
    if (!seen.has(row[0])) {
      seen.add(row[0]);
      const [epoch = 0, floorId = 0, lastIssuedId = 0, tailId = 0, visibleEnd = 0] = row[1]
        .split(',')
        .map(Number);
      read.state = { epoch, floorId, lastIssuedId, tailId };
      read.visibleEnd = visibleEnd;
    }
    const columns = row.slice(3) as ChangeColumns | NullColumns;
    if (columns[0] === null) continue;
    if (read.changes.length === options.limit || row[2] !== true) {
      read.hasMore = true;
      continue;
    }
    const id = Number(columns[0]);
    const previous = read.changes.at(-1)?.id ?? read.after?.eventId ?? 0;
    // Batches are spliced by position: a plan that broke the order must fail loudly, never skip a change.
    assert(id > previous, () => `fanout tail read in id order at id ${id}`);
    read.changes.push({ id, entityType: columns[1], json: spliceChange(...columns), modifiedAt: columns[6] });
  }
  assert(seen.size === tails.length, 'fanout tail read answers every tenant');
  return reads;
}
