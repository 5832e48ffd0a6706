import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { SERVER_MANAGED_FIELDS, versionSchema, type EntityType } from '../../shared/entities.ts';
import type { Operation, ResolveConflictRequest } from '../../shared/protocol.ts';
import type { ChangedIds } from './apply.ts';
import { noteChanged } from './apply.ts';
import type { EntityStore } from './entity-store.ts';
import { DeskStoreError } from './errors.ts';
import type { OutboxRow, OutboxStore } from './outbox-store.ts';
import type { UploadResponseApplier } from './upload-response.ts';

/**
 * One conflict as the user sees it: what this desk wanted beside what the server has. There is one per
 * record: edits of the record that met the conflict in the same upload, or were made after it, are
 * covered by the same decision (`edits` counts them all).
 */
export interface ConflictView {
  /** The record's first edit that met the conflict: the id to resolve. */
  outboxEventId: string;
  entityType: EntityType;
  entityId: string;
  operation: Operation;
  reason: string | null;
  createdAt: string;
  /** The server version the edit was based on. */
  localVersion: number;
  /** This desk's edits of the record the decision settles (1: just this one). */
  edits: number;
  local: {
    /** The record's last edit that met the conflict: what keeping this desk's version sends. */
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
    .filter((key) => !SERVER_MANAGED_FIELDS.has(key))
    .filter((key) => JSON.stringify(local[key] ?? null) !== JSON.stringify(server[key] ?? null))
    .sort();
}

/** Conflict listing and the desk's half of a resolution. */
export class ConflictStore {
  private readonly resolveStmt: Database.Statement<['ACCEPT_SERVER' | 'KEEP_LOCAL', string]>;
  private readonly acceptStmt: Database.Statement<[number | null, string, string]>;
  private readonly unsentStmt: Database.Statement<[], OutboxRow>;
  private readonly unresolvedOfStmt: Database.Statement<[EntityType, string], OutboxRow>;
  private readonly supersedeStmt: Database.Statement<[string, string, string]>;
  private readonly setPayloadStmt: Database.Statement<[string, string]>;

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
    this.unresolvedOfStmt = db.prepare(`
      SELECT * FROM outbox_events
      WHERE entity_type = ? AND entity_id = ? AND status IN ('PENDING', 'SENT', 'CONFLICT') ORDER BY seq`);
    // Settled on this desk by the user's decision on an earlier edit of the record; never sent (again).
    this.supersedeStmt = db.prepare(`
      UPDATE outbox_events SET status = 'ACKNOWLEDGED', error_code = 'SUPERSEDED', error_message = ?,
        acknowledged_at = ?, resolution = NULL, resolution_sent_at = NULL
      WHERE id = ?`);
    this.setPayloadStmt = db.prepare('UPDATE outbox_events SET payload = ? WHERE id = ?');
  }

  /** The record's unresolved edits from its first conflict on: the conflicts, then the edits held behind. */
  private chainOf(event: OutboxRow): { conflicts: OutboxRow[]; held: OutboxRow[] } {
    const later = this.unresolvedOfStmt
      .all(event.entity_type, event.entity_id)
      .filter((e) => e.seq >= event.seq);
    return {
      conflicts: later.filter((e) => e.status === 'CONFLICT'),
      held: later.filter((e) => e.status !== 'CONFLICT'),
    };
  }

  list(): ConflictView[] {
    const shown = new Set<string>();
    return this.outbox.byStatus('CONFLICT').flatMap((event) => {
      const key = `${event.entity_type}:${event.entity_id}`;
      if (shown.has(key)) return [];
      shown.add(key);
      const { conflicts, held } = this.chainOf(event);
      const last = conflicts.at(-1) ?? event;
      const payload = JSON.parse(last.payload) as Record<string, unknown>;
      const serverData = parseObject(last.server_data);
      const row = this.entities.getRow(event.entity_type, event.entity_id);
      return [
        {
          outboxEventId: event.id,
          entityType: event.entity_type,
          entityId: event.entity_id,
          operation: last.operation,
          reason: last.error_message,
          createdAt: event.created_at,
          localVersion: event.local_version,
          edits: conflicts.length + held.length,
          local: { payload, current: row === undefined || row.deleted === 1 ? null : parseObject(row.doc) },
          server: { data: serverData, serverVersion: versionOf(serverData) },
          differingFields: last.operation === 'DELETE' ? [] : differingFields(payload, serverData),
          resolution: event.resolution === 'KEEP_LOCAL' ? 'KEEP_LOCAL' : null,
        },
      ];
    });
  }

  /**
   * One decision settles the record: every edit of it that met the conflict, and every edit made since.
   *
   * ACCEPT_SERVER settles it here at once: the row becomes the server's copy (a tombstone when the server
   * has none), each conflicting edit is ACKNOWLEDGED (and its resolution told to the server), and the edits
   * held behind them are dropped (SUPERSEDED): they built on the version the user turned down.
   *
   * KEEP_LOCAL resolves the first conflicting edit with the record's last conflicting payload (so an upload
   * that chained several edits keeps the latest), the later conflicting edits are SUPERSEDED by it, and it
   * stays in CONFLICT, still shielding the row, until the server answers; edits made since stay PENDING,
   * held until that answer and then rebased onto it. Either way the request is kept until the server has
   * answered it (see `unsent`), so the choice survives a restart. Runs inside a transaction.
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
    const { conflicts, held } = this.chainOf(event);
    const first = conflicts[0]!;
    const last = conflicts.at(-1)!;
    const laterConflicts = conflicts.slice(1);
    if (choice === 'KEEP_LOCAL') {
      const serverVersion = versionOf(parseObject(last.server_data));
      for (const later of laterConflicts) this.supersedeStmt.run('kept with an earlier edit', now, later.id);
      if (first.operation !== 'DELETE' && last.operation === 'DELETE') {
        // Edited, then deleted: the edit is kept, and a deletion follows on top of the server's answer.
        this.recordDelete(first, now);
      } else if (first.operation !== 'DELETE') {
        this.setPayloadStmt.run(last.payload, first.id);
      }
      this.resolveStmt.run('KEEP_LOCAL', first.id);
      const resolved = this.outbox.byId(first.id)!;
      return { outboxEventId: first.id, request: requestOf(resolved, 'KEEP_LOCAL', serverVersion) };
    }
    const serverData = parseObject(last.server_data);
    const serverVersion = versionOf(serverData);
    this.entities.writeServerCopy(
      event.entity_type,
      event.entity_id,
      event.tenant_id,
      serverVersion ?? 0,
      serverData,
      now,
    );
    for (const conflict of conflicts) this.acceptStmt.run(serverVersion, now, conflict.id);
    // (An edit already on its way cannot be taken back: its answer settles it.)
    for (const edit of held.filter((e) => e.status === 'PENDING'))
      this.supersedeStmt.run("the server's version was kept", now, edit.id);
    noteChanged(changed, event.entity_type, event.entity_id);
    this.upload.releaseIfSettled(event.entity_type, event.entity_id, changed);
    return { outboxEventId: first.id, request: requestOf(first, 'ACCEPT_SERVER', serverVersion) };
  }

  /** A DELETE of the record after `after`, held until `after`'s resolution is answered, then rebased. */
  private recordDelete(after: OutboxRow, now: string): void {
    this.outbox.insert({
      id: randomUUID(),
      tenantId: after.tenant_id,
      entityType: after.entity_type,
      entityId: after.entity_id,
      operation: 'DELETE',
      payload: { id: after.entity_id, tenantId: after.tenant_id },
      localVersion: after.local_version,
      createdAt: now,
    });
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
