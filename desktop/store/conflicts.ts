import type Database from 'better-sqlite3';
import { versionSchema, type EntityType } from '../../shared/entities.ts';
import type { Operation, ResolveConflictRequest } from '../../shared/protocol.ts';
import type { ChangedIds } from './apply.ts';
import { noteChanged } from './apply.ts';
import type { EntityStore } from './entity-store.ts';
import { DeskStoreError } from './errors.ts';
import type { OutboxRow, OutboxStore } from './outbox-store.ts';
import type { UploadResponseApplier } from './upload-response.ts';

/** One conflict as the user sees it: what this desk wanted beside what the server has. */
export interface ConflictView {
  outboxEventId: string;
  entityType: EntityType;
  entityId: string;
  operation: Operation;
  reason: string | null;
  createdAt: string;
  /** The server version the edit was based on. */
  localVersion: number;
  local: {
    /** The edit as sent. */
    payload: Record<string, unknown>;
    /** The row on this desk now (later edits included); null when deleted here. */
    current: Record<string, unknown> | null;
  };
  server: {
    /** The server's row when the conflict was found; null when the server no longer has it. */
    data: Record<string, unknown> | null;
    serverVersion: number | null;
  };
  /** Fields whose values differ between `local.payload` and `server.data` (server-managed ones left out). */
  differingFields: string[];
  /** KEEP_LOCAL was chosen and awaits the server's answer. */
  resolution: 'KEEP_LOCAL' | null;
}

export type ResolutionChoice = ResolveConflictRequest['choice'];

/** What to POST to `/api/sync/conflicts/:outboxEventId/resolve`. */
export interface ResolutionRequest {
  outboxEventId: string;
  request: ResolveConflictRequest;
}

const SERVER_MANAGED = new Set(['id', 'tenantId', 'serverVersion', 'updatedAt']);

function parseObject(json: string | null): Record<string, unknown> | null {
  return json === null ? null : (JSON.parse(json) as Record<string, unknown>);
}

function versionOf(data: Record<string, unknown> | null): number | null {
  const parsed = versionSchema.safeParse(data?.serverVersion);
  return parsed.success ? parsed.data : null;
}

function differingFields(local: Record<string, unknown>, server: Record<string, unknown> | null): string[] {
  if (server === null) return [];
  const keys = new Set([...Object.keys(local), ...Object.keys(server)]);
  return [...keys]
    .filter((key) => !SERVER_MANAGED.has(key))
    .filter((key) => JSON.stringify(local[key] ?? null) !== JSON.stringify(server[key] ?? null))
    .sort();
}

/** Conflict listing and the desk's half of a resolution. */
export class ConflictStore {
  private readonly resolveStmt: Database.Statement<['ACCEPT_SERVER' | 'KEEP_LOCAL', string]>;
  private readonly acceptStmt: Database.Statement<[number | null, string, string]>;
  private readonly unsentStmt: Database.Statement<[], OutboxRow>;

  constructor(
    db: Database.Database,
    private readonly entities: EntityStore,
    private readonly outbox: OutboxStore,
    private readonly upload: UploadResponseApplier,
  ) {
    this.resolveStmt = db.prepare(
      'UPDATE outbox_events SET resolution = ?, resolution_sent_at = NULL WHERE id = ?',
    );
    this.acceptStmt = db.prepare(`
      UPDATE outbox_events SET status = 'ACKNOWLEDGED', resolution = 'ACCEPT_SERVER', resolution_sent_at = NULL,
        server_version = ?, acknowledged_at = ?
      WHERE id = ?`);
    this.unsentStmt = db.prepare(`
      SELECT * FROM outbox_events WHERE resolution IS NOT NULL AND resolution_sent_at IS NULL ORDER BY seq`);
  }

  list(): ConflictView[] {
    return this.outbox.byStatus('CONFLICT').map((event) => {
      const payload = JSON.parse(event.payload) as Record<string, unknown>;
      const serverData = parseObject(event.server_data);
      const row = this.entities.getRow(event.entity_type, event.entity_id);
      return {
        outboxEventId: event.id,
        entityType: event.entity_type,
        entityId: event.entity_id,
        operation: event.operation,
        reason: event.error_message,
        createdAt: event.created_at,
        localVersion: event.local_version,
        local: { payload, current: row === undefined || row.deleted === 1 ? null : parseObject(row.doc) },
        server: { data: serverData, serverVersion: versionOf(serverData) },
        differingFields: event.operation === 'DELETE' ? [] : differingFields(payload, serverData),
        resolution: event.resolution === 'KEEP_LOCAL' ? 'KEEP_LOCAL' : null,
      };
    });
  }

  /**
   * ACCEPT_SERVER settles the conflict here at once: the row becomes the server's copy (a tombstone when the
   * server has none) and the event is ACKNOWLEDGED. KEEP_LOCAL leaves the event in CONFLICT, still shielding
   * the row, until the server answers the resolve request. Either way the request is kept until the server
   * has answered it (see `unsentResolutions`), so the choice survives a restart. Runs inside a transaction.
   */
  resolve(
    outboxEventId: string,
    choice: ResolutionChoice,
    now: string,
    changed: ChangedIds,
  ): ResolutionRequest {
    const event = this.outbox.byId(outboxEventId);
    if (event === undefined || event.status !== 'CONFLICT') {
      throw new DeskStoreError('UNKNOWN_CONFLICT', `outbox event ${outboxEventId} is not in conflict`);
    }
    const serverData = parseObject(event.server_data);
    const serverVersion = versionOf(serverData);
    if (choice === 'KEEP_LOCAL') {
      this.resolveStmt.run('KEEP_LOCAL', event.id);
      return { outboxEventId, request: requestOf(event, 'KEEP_LOCAL', serverVersion) };
    }
    this.entities.writeServerCopy(
      event.entity_type,
      event.entity_id,
      event.tenant_id,
      serverVersion ?? 0,
      serverData,
      now,
    );
    this.acceptStmt.run(serverVersion, now, event.id);
    noteChanged(changed, event.entity_type, event.entity_id);
    this.upload.releaseIfSettled(event.entity_type, event.entity_id, changed);
    return { outboxEventId, request: requestOf(event, 'ACCEPT_SERVER', serverVersion) };
  }

  /** Resolutions chosen but not yet answered by the server, oldest first: send them (again). */
  unsent(): ResolutionRequest[] {
    return this.unsentStmt.all().flatMap((event) => {
      if (event.resolution === null) return [];
      const version =
        event.resolution === 'ACCEPT_SERVER'
          ? event.server_version
          : versionOf(parseObject(event.server_data));
      return [{ outboxEventId: event.id, request: requestOf(event, event.resolution, version) }];
    });
  }
}

function requestOf(
  event: OutboxRow,
  choice: ResolutionChoice,
  serverVersion: number | null,
): ResolveConflictRequest {
  const version = serverVersion ?? 0;
  if (choice === 'ACCEPT_SERVER') return { choice, serverVersion: version };
  return { choice, payload: JSON.parse(event.payload) as Record<string, unknown>, serverVersion: version };
}
