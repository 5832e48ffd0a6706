import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { EntityType } from '../../shared/entities.ts';
import { DeskStoreError } from './errors.ts';
import { must } from '../../shared/asserts.ts';

/** Where this desk stands in the tenant's change log. */
export interface SyncState {
  tenantId: string;
  /** Made once per database file; identifies this desk to the server. */
  clientId: string;
  /** Cursor to send to `/down` or the socket; null before the first sync and while a snapshot runs. */
  cursor: string | null;
  lastSyncTimestamp: string | null;
  /** A bootstrap in progress: resume it from `pageToken` (null: from the first page). */
  snapshot: SnapshotProgress | null;
}

export interface SnapshotProgress {
  entityTypes: EntityType[] | null;
  cursor: string | null;
  pageToken: string | null;
  startedAt: string;
}

interface SyncStateRow {
  tenant_id: string;
  client_id: string;
  cursor: string | null;
  last_sync_timestamp: string | null;
  snapshot_types: string | null;
  snapshot_cursor: string | null;
  snapshot_page_token: string | null;
  snapshot_started_at: string | null;
}

/** The single `sync_state` row of a desk file. A file belongs to one tenant for its whole life. */
export class SyncStateStore {
  private readonly readStmt: Database.Statement<[], SyncStateRow>;
  private readonly cursorStmt: Database.Statement<[string, string | null, string, string]>;
  private readonly beginSnapshotStmt: Database.Statement<[string | null, string, string, string]>;
  private readonly snapshotPageStmt: Database.Statement<[string, string | null, string, string]>;
  private readonly finishSnapshotStmt: Database.Statement<[string, string | null, string, string]>;

  constructor(
    db: Database.Database,
    readonly tenantId: string,
    now: string,
  ) {
    this.readStmt = db.prepare('SELECT * FROM sync_state');
    const existing = this.readStmt.all();
    const other = existing.find((row) => row.tenant_id !== tenantId);
    if (other !== undefined) {
      throw new DeskStoreError(
        'TENANT_MISMATCH',
        `this desk database belongs to tenant ${other.tenant_id}, not ${tenantId}`,
      );
    }
    if (existing.length === 0) {
      db.prepare('INSERT INTO sync_state (tenant_id, client_id, updated_at) VALUES (?, ?, ?)').run(
        tenantId,
        randomUUID(),
        now,
      );
    }
    this.cursorStmt = db.prepare(`
      UPDATE sync_state SET cursor = ?, last_sync_timestamp = coalesce(?, last_sync_timestamp), updated_at = ?
      WHERE tenant_id = ?`);
    this.beginSnapshotStmt = db.prepare(`
      UPDATE sync_state SET cursor = NULL, snapshot_types = ?, snapshot_cursor = NULL, snapshot_page_token = NULL,
        snapshot_started_at = ?, updated_at = ?
      WHERE tenant_id = ?`);
    this.snapshotPageStmt = db.prepare(`
      UPDATE sync_state SET snapshot_cursor = ?, snapshot_page_token = ?, updated_at = ? WHERE tenant_id = ?`);
    this.finishSnapshotStmt = db.prepare(`
      UPDATE sync_state SET cursor = ?, last_sync_timestamp = coalesce(?, last_sync_timestamp),
        snapshot_types = NULL, snapshot_cursor = NULL, snapshot_page_token = NULL, snapshot_started_at = NULL,
        updated_at = ?
      WHERE tenant_id = ?`);
  }

  read(): SyncState {
    const row = must(this.readStmt.get(), 'sync_state row missing');
    return {
      tenantId: row.tenant_id,
      clientId: row.client_id,
      cursor: row.cursor,
      lastSyncTimestamp: row.last_sync_timestamp,
      snapshot:
        row.snapshot_started_at === null
          ? null
          : {
              entityTypes:
                row.snapshot_types === null ? null : (JSON.parse(row.snapshot_types) as EntityType[]),
              cursor: row.snapshot_cursor,
              pageToken: row.snapshot_page_token,
              startedAt: row.snapshot_started_at,
            },
    };
  }

  saveCursor(cursor: string, syncTimestamp: string | null, now: string): void {
    this.cursorStmt.run(cursor, syncTimestamp, now, this.tenantId);
  }

  beginSnapshot(types: readonly EntityType[] | null, now: string): void {
    this.beginSnapshotStmt.run(types === null ? null : JSON.stringify(types), now, now, this.tenantId);
  }

  saveSnapshotPage(cursor: string, pageToken: string | null, now: string): void {
    this.snapshotPageStmt.run(cursor, pageToken, now, this.tenantId);
  }

  finishSnapshot(cursor: string, syncTimestamp: string | null, now: string): void {
    this.finishSnapshotStmt.run(cursor, syncTimestamp, now, this.tenantId);
  }
}
