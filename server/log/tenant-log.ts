import type { Pool, PoolClient } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import type { CursorPosition } from './cursor.ts';
import { must } from '../../shared/asserts.ts';

/**
 * What a tenant's log retains (sql/002_sync_log.sql, `sync_tenant_log`). A tenant without a row has epoch 0
 * and floor 0. Cursors are served while their epoch is the tenant's and their position is at or above the
 * floor; a position above `lastIssuedId` was never handed out by this server.
 */
export interface TenantLogState {
  epoch: number;
  floorId: number;
  /** The largest `sync_events` id ever issued (any tenant), never below `floorId`. */
  lastIssuedId: number;
  /** The tenant's largest visible `sync_events` id (0: none). */
  tailId: number;
}

/**
 * SQL select list over `sync_tenant_log l` left-joined for tenant `$1`: the columns of TenantLogState. Read
 * in the same statement (or snapshot) as the rows it guards, so that a prune or an epoch bump committed in
 * between can never let a page with a hole through.
 */
export const TENANT_LOG_STATE_COLUMNS = `
  coalesce(l.epoch, 0) AS epoch,
  coalesce(l.floor_id, 0) AS floor_id,
  greatest(coalesce(pg_sequence_last_value('sync_events_id_seq'::regclass), 0), coalesce(l.floor_id, 0))
    AS last_issued_id,
  coalesce((SELECT max(t.id) FROM sync_events t WHERE t.tenant_id = $1), 0) AS tail_id`;

export const TENANT_LOG_STATE_FROM = `(SELECT 1) AS one LEFT JOIN sync_tenant_log l ON l.tenant_id = $1`;

/**
 * The SQL twin of checkPosition's "can be served" for a cursor at (`afterId`, `afterEpoch`) against the
 * state columns of `state` (epoch, floor_id, last_issued_id): the one condition every page query reads its
 * rows under, so that a page is empty whenever checkPosition will refuse its start. A null cursor is
 * the caller's case (served while nothing is pruned).
 */
export function servableCursorSql(afterId: string, afterEpoch: string, state: string): string {
  return `(${afterEpoch} = ${state}.epoch AND ${afterId} >= ${state}.floor_id AND ${afterId} <= ${state}.last_issued_id)`;
}

export interface TenantLogStateRow {
  epoch: number;
  floor_id: number;
  last_issued_id: number;
  tail_id: number;
}

export function tenantLogStateOf(row: TenantLogStateRow): TenantLogState {
  return {
    epoch: row.epoch,
    floorId: row.floor_id,
    lastIssuedId: row.last_issued_id,
    tailId: row.tail_id,
  };
}

export async function readTenantLogState(db: Pool | PoolClient, tenantId: string): Promise<TenantLogState> {
  const result = await db.query<TenantLogStateRow>(
    `SELECT ${TENANT_LOG_STATE_COLUMNS} FROM ${TENANT_LOG_STATE_FROM}`,
    [tenantId],
  );
  return tenantLogStateOf(must(result.rows[0], 'tenant log state query returned no row'));
}

/**
 * Whether the log can serve changes after `position` (null: from the very start) with nothing missing.
 * Throws INVALID_CURSOR (400) for a position this server never issued and RESYNC_REQUIRED (410) for one the
 * log no longer covers. `canServe` in SQL (see read.ts) must agree with this function.
 */
export function checkPosition(position: CursorPosition | null, state: TenantLogState): void {
  if (position === null) {
    if (state.floorId > 0) throw resyncRequired('the log has been pruned: bootstrap from the snapshot');
    return;
  }
  if (position.eventId > state.lastIssuedId || position.epoch > state.epoch) {
    throw new SyncError('INVALID_CURSOR', 'cursor was not issued by this server');
  }
  if (position.epoch < state.epoch) {
    throw resyncRequired('the log was rebuilt since this cursor was issued: bootstrap from the snapshot');
  }
  if (position.eventId < state.floorId) {
    throw resyncRequired('the cursor is older than what the log retains: bootstrap from the snapshot');
  }
}

export function resyncRequired(message: string): SyncError {
  return new SyncError('RESYNC_REQUIRED', message);
}
