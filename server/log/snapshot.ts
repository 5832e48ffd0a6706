import { camelCase, ENTITY_TABLES, ENTITY_TYPES, type EntityType } from '../../shared/entities.ts';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { CHANGE_ENVELOPE_BYTES } from './read.ts';
import type { PageTokenCodec, SnapshotPosition } from './page-token.ts';
import { checkPosition, readTenantLogState } from './tenant-log.ts';

export interface SnapshotQuery {
  tenantId: string;
  /** Types asked for (null: all served types); served in ENTITY_TYPES order (referenced types first). */
  entityTypes: readonly EntityType[] | null;
  /** The types the sync rules serve. */
  servedTypes: readonly EntityType[];
  /** null: the first page. */
  pageToken: string | null;
  limit: number;
  /** Byte budget of the page (sync rule limits.pageMaxBytes); a single larger row is sent alone. */
  maxBytes: number;
  /** camelCase fields that never leave the server, per type. */
  hiddenFields: Partial<Record<EntityType, readonly string[]>>;
}

/**
 * A page of current rows as CREATE changes, keyset by (type, id). `cursor` is fixed by the first page, read
 * in the same snapshot as its rows, and repeated on every page: every change after the rows' state is
 * after it, so /down from there misses nothing (it may repeat a change, which desks apply idempotently).
 */
export interface SnapshotPage {
  changesJson: string;
  count: number;
  cursor: string;
  hasMore: boolean;
  pageToken: string | null;
}

// Rows come back typed by the pool (dates 'YYYY-MM-DD', numeric and int8 as numbers, timestamptz as Date,
// written as ISO 8601 UTC) and are turned into camelCase payloads with the shared camelCase(), so a
// snapshot row reads exactly like the payload capture writes for the same row.
// $1 tenant, $2 rows wanted, $3 bytes left in the page, $4 whether the page is still empty, $5 the id to
// start after. The rows are walked one index probe at a time so that the walk stops at the byte budget:
// each row's size (its JSON text, plus the change envelope) is known only once it is read, and a plain
// LIMIT would read (and detoast) the page's limit of rows whatever their size. The first row that does not
// fit comes back as a mark without its columns (`_page_fits` false): there is more.
function rowsSql(table: string, afterId: boolean): string {
  const size = (row: string) => `octet_length(row_to_json(${row})::text) + ${CHANGE_ENVELOPE_BYTES}`;
  return `
WITH RECURSIVE page AS (
  (SELECT t AS r, s.bytes AS total, 1 AS n, (s.bytes <= $3::bigint OR $4::boolean) AS fits
    FROM ${table} t CROSS JOIN LATERAL (SELECT ${size('t')} AS bytes) s
    WHERE t.tenant_id = $1${afterId ? ' AND t.id > $5::uuid' : ''}
    ORDER BY t.id LIMIT 1)
  UNION ALL
  (SELECT x.t, p.total + s.bytes, p.n + 1, p.total + s.bytes <= $3::bigint
    FROM page p
    CROSS JOIN LATERAL (
      SELECT t FROM ${table} t WHERE t.tenant_id = $1 AND t.id > (p.r).id ORDER BY t.id LIMIT 1
    ) x
    CROSS JOIN LATERAL (SELECT ${size('x.t')} AS bytes) s
    WHERE p.fits AND p.n < $2::integer)
)
SELECT (CASE WHEN page.fits THEN page.r END).*, page.fits AS _page_fits, page.total AS _page_bytes
FROM page ORDER BY page.n`;
}

/** The columns rowsSql adds to the table's. */
const PAGE_COLUMNS = new Set(['_page_fits', '_page_bytes']);

/** Reads one snapshot page. Throws INVALID_PAGE_TOKEN (400), or RESYNC_REQUIRED (410) when the log was
 * rebuilt or pruned past the snapshot's cursor since its first page. */
export async function readSnapshotPage(
  pool: Pool,
  tokens: PageTokenCodec,
  query: SnapshotQuery,
): Promise<SnapshotPage> {
  const start = startPosition(tokens, query);

  return inTransaction(pool, async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const state = await readTenantLogState(client, query.tenantId);
    let cursor = start.cursor;
    if (query.pageToken === null) {
      cursor = encodeCursor({ epoch: state.epoch, eventId: Math.max(state.tailId, state.floorId) });
    } else {
      checkPosition(decodeCursor(cursor), state);
    }
    const { rows, cut } = await readRows(client, query, start);
    const hasMore = cut || rows.length > query.limit;
    if (rows.length > query.limit) rows.pop();
    const last = rows.at(-1);
    const pageToken =
      hasMore && last !== undefined
        ? tokens.encode(query.tenantId, {
            cursor,
            entityTypes: start.entityTypes,
            typeIndex: last.typeIndex,
            lastId: last.id,
          })
        : null;
    return {
      changesJson: `[${rows.map((r) => r.change).join(',')}]`,
      count: rows.length,
      cursor,
      hasMore,
      pageToken,
    };
  });
}

interface SnapshotRow {
  id: string;
  change: string;
  typeIndex: number;
}

/**
 * Up to limit + 1 rows from `start` on, across types, within the byte budget; the extra row only says
 * there is more, and so does `cut`: the next row did not fit the budget.
 */
async function readRows(
  client: PoolClient,
  query: SnapshotQuery,
  start: SnapshotPosition,
): Promise<{ rows: SnapshotRow[]; cut: boolean }> {
  const rows: SnapshotRow[] = [];
  let bytes = 0;
  for (let typeIndex = start.typeIndex; typeIndex < start.entityTypes.length; typeIndex++) {
    const type = start.entityTypes[typeIndex];
    if (type === undefined) break;
    const afterId = typeIndex === start.typeIndex ? start.lastId : null;
    const values: unknown[] = [
      query.tenantId,
      query.limit + 1 - rows.length,
      query.maxBytes - bytes,
      rows.length === 0,
    ];
    if (afterId !== null) values.push(afterId);
    const result = await client.query<Record<string, unknown>>(
      rowsSql(ENTITY_TABLES[type], afterId !== null),
      values,
    );
    const hidden = new Set(query.hiddenFields[type] ?? []);
    const fields = result.fields
      .filter((field) => !PAGE_COLUMNS.has(field.name))
      .map((field) => ({ column: field.name, key: camelCase(field.name) }))
      .filter((field) => !hidden.has(field.key));
    let typeBytes = 0;
    for (const row of result.rows) {
      if (row._page_fits !== true) return { rows, cut: true };
      rows.push({ id: String(row.id), change: changeJson(type, row, fields), typeIndex });
      typeBytes = Number(row._page_bytes);
    }
    bytes += typeBytes;
    if (rows.length > query.limit) break;
  }
  return { rows, cut: false };
}

function changeJson(
  type: EntityType,
  row: Record<string, unknown>,
  fields: readonly { column: string; key: string }[],
): string {
  const payload: Record<string, unknown> = {};
  for (const { column, key } of fields) payload[key] = row[column];
  const updatedAt = row.updated_at;
  return JSON.stringify({
    id: `s${String(row.server_version)}`,
    entityType: type,
    entityId: row.id,
    operation: 'CREATE',
    payload,
    serverVersion: row.server_version,
    modifiedAt: updatedAt instanceof Date ? updatedAt.toISOString() : updatedAt,
  });
}

function startPosition(tokens: PageTokenCodec, query: SnapshotQuery): SnapshotPosition {
  if (query.pageToken === null) {
    const entityTypes = inProtocolOrder(query.entityTypes ?? query.servedTypes);
    return { cursor: '', entityTypes, typeIndex: 0, lastId: null };
  }
  const position = tokens.decode(query.tenantId, query.pageToken);
  const asked = query.entityTypes === null ? null : inProtocolOrder(query.entityTypes);
  if (asked !== null && asked.join() !== position.entityTypes.join()) {
    throw new SyncError('INVALID_PAGE_TOKEN', "entityTypes differ from those of the snapshot's first page", {
      entityTypes: position.entityTypes,
    });
  }
  const unserved = position.entityTypes.filter((type) => !query.servedTypes.includes(type));
  if (unserved.length > 0) {
    throw new SyncError('UNKNOWN_ENTITY_TYPE', 'entity types not served by this server', { unserved });
  }
  return position;
}

function inProtocolOrder(types: readonly EntityType[]): EntityType[] {
  return ENTITY_TYPES.filter((type) => types.includes(type));
}

/** The `/api/sync/snapshot` response body, spliced around the page's JSON text. */
export function snapshotResponseJson(page: SnapshotPage): string {
  const token = page.pageToken === null ? '' : `,"pageToken":${JSON.stringify(page.pageToken)}`;
  return `{"changes":${page.changesJson}${token},"hasMore":${page.hasMore},"cursor":${JSON.stringify(page.cursor)}}`;
}
