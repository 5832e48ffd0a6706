import type { EntityType } from '../../shared/entities.ts';
import type { Pool } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import { decodeCursor, encodeCursor, type CursorPosition } from './cursor.ts';
import { readChangesPage, type PageStart } from './read.ts';
import { checkPosition } from './tenant-log.ts';

export interface CatchUpRequest {
  tenantId: string;
  /** Wins over lastSyncTimestamp. */
  cursor: string | null;
  /** Served as "changes committed after that time" when there is no cursor. */
  lastSyncTimestamp: string | null;
  /** null: every type. */
  entityTypes: readonly EntityType[] | null;
  limit: number;
  /** Byte budget of the page (sync rule limits.pageMaxBytes); a single larger change is sent alone. */
  maxBytes: number;
  /** Fields that never leave the server, per type: stripped again at read time, so that a field hidden
   * after its changes were captured does not leave either. */
  hiddenFields: Partial<Record<EntityType, readonly string[]>>;
  /** PROTOCOL countRemaining: also say how many changes of these types follow the page. */
  countRemaining?: boolean;
}

/**
 * One page of catch-up. `changesJson` is a JSON array of protocol Changes, in cursor order, gap-free after
 * the position sent; `cursor` is never behind the one sent.
 */
export interface CatchUpPage {
  changesJson: string;
  count: number;
  cursor: string;
  hasMore: boolean;
  /** Changes of the types asked after `cursor`, when counted; null otherwise. */
  remaining: number | null;
}

/** Reads the next page of a tenant's log. Throws INVALID_CURSOR (400) or RESYNC_REQUIRED (410). */
export async function readCatchUp(pool: Pool, request: CatchUpRequest): Promise<CatchUpPage> {
  const position = request.cursor === null ? null : decodeCursor(request.cursor);
  const page = await readChangesPage(pool, {
    tenantId: request.tenantId,
    start: pageStart(position, request.lastSyncTimestamp),
    entityTypes: request.entityTypes,
    limit: request.limit,
    maxBytes: request.maxBytes,
    hiddenFields: request.hiddenFields,
    countRemaining: request.countRemaining === true,
  });
  checkPosition(position, page.state);

  let eventId = page.lastId ?? page.afterId;
  // A filtered read that found nothing more has seen every change up to the tenant's tail in the same
  // snapshot: the cursor may move past the other types' changes.
  if (!page.hasMore && request.entityTypes !== null) eventId = Math.max(eventId, page.state.tailId);
  if (position !== null) eventId = Math.max(eventId, position.eventId);
  return {
    changesJson: page.changesJson,
    count: page.count,
    cursor: encodeCursor({ epoch: page.state.epoch, eventId }),
    hasMore: page.hasMore,
    remaining: page.remaining,
  };
}

function pageStart(position: CursorPosition | null, lastSyncTimestamp: string | null): PageStart {
  if (position !== null) return { kind: 'after', epoch: position.epoch, eventId: position.eventId };
  if (lastSyncTimestamp !== null) {
    // ISO 8601 has a year 0000; Postgres does not (it counts 1 BC).
    if (lastSyncTimestamp.startsWith('0000')) {
      throw new SyncError('BAD_REQUEST', 'lastSyncTimestamp is out of range', [
        { field: 'lastSyncTimestamp', message: 'the year must be 0001 or later' },
      ]);
    }
    return { kind: 'since', time: lastSyncTimestamp };
  }
  return { kind: 'beginning' };
}

/** The `/api/sync/down` response body, spliced around the page's JSON text. */
export function downResponseJson(page: CatchUpPage, syncTimestamp: string): string {
  const remaining = page.remaining === null ? '' : `,"remaining":${page.remaining}`;
  return `{"changes":${page.changesJson},"cursor":${JSON.stringify(page.cursor)},"hasMore":${page.hasMore},"syncTimestamp":${JSON.stringify(syncTimestamp)}${remaining}}`;
}
