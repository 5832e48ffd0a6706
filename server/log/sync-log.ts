import { storableText } from '../../shared/text.ts';
import type { Pool } from '../db/pool.ts';

export type SyncDirection = 'UP' | 'DOWN' | 'SNAPSHOT';
export type SyncStatus = 'SUCCESS' | 'PARTIAL' | 'FAILED';

/** One `sync_log` row: one per /up, /down and /snapshot request that got past authentication. */
export interface SyncLogEntry {
  tenantId: string;
  clientId: string;
  direction: SyncDirection;
  status: SyncStatus;
  eventsCount: number;
  conflictsCount?: number;
  rejectedCount?: number;
  startedAt: Date;
  durationMs: number;
  errorMessage?: string | null;
  /** The `jti` of the caller's token, when it has one: a desk's last contact (sync-admin desk list). */
  tokenId?: string | null;
}

export async function writeSyncLog(pool: Pool, entry: SyncLogEntry): Promise<void> {
  await pool.query({
    name: 'sync-log-insert',
    text: `INSERT INTO sync_log (tenant_id, client_id, direction, status, events_count, conflicts_count,
             rejected_count, started_at, duration_ms, error_message, token_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    values: [
      entry.tenantId,
      // What a request claims is stored as text Postgres can hold (a bad body may carry NUL or a lone surrogate).
      storableText(entry.clientId),
      entry.direction,
      entry.status,
      entry.eventsCount,
      entry.conflictsCount ?? 0,
      entry.rejectedCount ?? 0,
      entry.startedAt,
      Math.round(entry.durationMs),
      entry.errorMessage == null ? null : storableText(entry.errorMessage),
      entry.tokenId ?? null,
    ],
  });
}
