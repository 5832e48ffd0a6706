import type Database from 'better-sqlite3';
import type { EntityType } from '../../shared/entities.ts';
import type { Operation, OutboxEvent, OutboxStatus } from '../../shared/protocol.ts';

/**
 * Of a PENDING event `o`: an earlier edit of its entity met a conflict. Such an edit waits for the user's
 * decision (see ConflictStore.resolve): sent now, it would only meet the same conflict again.
 */
const HELD_BEHIND_CONFLICT = `EXISTS (SELECT 1 FROM outbox_events c
  WHERE c.entity_type = o.entity_type AND c.entity_id = o.entity_id AND c.status = 'CONFLICT' AND c.seq < o.seq)`;

/** Statuses that keep an entity's row from being overwritten by incoming changes. */
export const UNRESOLVED_STATUSES = `('PENDING', 'SENT', 'CONFLICT')`;

export interface OutboxRow {
  seq: number;
  id: string;
  tenant_id: string;
  entity_type: EntityType;
  entity_id: string;
  operation: Operation;
  payload: string;
  local_version: number;
  created_at: string;
  last_attempt_at: string | null;
  attempt_count: number;
  status: OutboxStatus;
  error_code: string | null;
  error_message: string | null;
  /** JSON `{ rule, params }` of a rejection, when the server sent one. */
  error_detail: string | null;
  server_event_id: string | null;
  server_version: number | null;
  server_data: string | null;
  acknowledged_at: string | null;
  resolution: 'ACCEPT_SERVER' | 'KEEP_LOCAL' | null;
  resolution_sent_at: string | null;
  dismissed_at: string | null;
}

export interface NewOutboxEvent {
  id: string;
  tenantId: string;
  entityType: EntityType;
  entityId: string;
  operation: Operation;
  payload: Record<string, unknown>;
  localVersion: number;
  createdAt: string;
}

/** The wire shape of PROTOCOL `/api/sync/up` for one stored event. */
export function toWireEvent(row: OutboxRow): OutboxEvent {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    entityType: row.entity_type,
    entityId: row.entity_id,
    operation: row.operation,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    localVersion: row.local_version,
    createdAt: row.created_at,
    attemptCount: row.attempt_count,
    status: row.status,
    lastAttemptAt: row.last_attempt_at,
    errorMessage: row.error_message,
  };
}

/** Prepared statements over `outbox_events`. Ordering is `seq`, the order in which edits were made. */
export class OutboxStore {
  private readonly insertStmt: Database.Statement<
    [string, string, EntityType, string, Operation, string, number, string]
  >;
  private readonly byIdStmt: Database.Statement<[string], OutboxRow>;
  private readonly pendingStmt: Database.Statement<[number], OutboxRow>;
  private readonly markSentStmt: Database.Statement<[string, string]>;
  private readonly resumeStmt: Database.Statement<[]>;
  private readonly countsStmt: Database.Statement<[], { status: OutboxStatus; n: number }>;
  private readonly unresolvedKeysStmt: Database.Statement<[], { entity_type: EntityType; entity_id: string }>;
  private readonly hasUnresolvedStmt: Database.Statement<[EntityType, string], { one: 1 }>;
  private readonly byStatusStmt: Database.Statement<[OutboxStatus], OutboxRow>;
  private readonly pruneStmt: Database.Statement<[string, string]>;
  private readonly refusedStmt: Database.Statement<[], OutboxRow>;
  private readonly heldStmt: Database.Statement<[], { n: number }>;
  private readonly dismissStmt: Database.Statement<[string, string]>;
  private readonly unresolvedOfStmt: Database.Statement<[EntityType, string], OutboxRow>;
  constructor(db: Database.Database) {
    this.insertStmt = db.prepare(`
      INSERT INTO outbox_events (id, tenant_id, entity_type, entity_id, operation, payload, local_version, created_at, status)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'PENDING')`);
    this.byIdStmt = db.prepare('SELECT * FROM outbox_events WHERE id = ?');
    this.pendingStmt = db.prepare(`
      SELECT * FROM outbox_events o WHERE status = 'PENDING' AND NOT ${HELD_BEHIND_CONFLICT} ORDER BY seq LIMIT ?`);
    this.markSentStmt = db.prepare(`
      UPDATE outbox_events SET status = 'SENT', attempt_count = attempt_count + 1, last_attempt_at = ?
      WHERE id = ? AND status = 'PENDING'`);
    this.resumeStmt = db.prepare(`UPDATE outbox_events SET status = 'PENDING' WHERE status = 'SENT'`);
    this.countsStmt = db.prepare('SELECT status, count(*) AS n FROM outbox_events GROUP BY status');
    this.unresolvedKeysStmt = db.prepare(
      `SELECT DISTINCT entity_type, entity_id FROM outbox_events WHERE status IN ${UNRESOLVED_STATUSES}`,
    );
    this.hasUnresolvedStmt = db.prepare(`
      SELECT 1 AS one FROM outbox_events
      WHERE entity_type = ? AND entity_id = ? AND status IN ${UNRESOLVED_STATUSES} LIMIT 1`);
    this.byStatusStmt = db.prepare('SELECT * FROM outbox_events WHERE status = ? ORDER BY seq');
    this.pruneStmt = db.prepare(`
      DELETE FROM outbox_events
      WHERE (status = 'ACKNOWLEDGED' AND acknowledged_at < ?
             AND NOT (resolution IS NOT NULL AND resolution_sent_at IS NULL))
         OR (status = 'FAILED' AND dismissed_at < ?)`);
    this.refusedStmt = db.prepare(
      `SELECT * FROM outbox_events WHERE status = 'FAILED' AND dismissed_at IS NULL ORDER BY seq`,
    );
    this.heldStmt = db.prepare(
      `SELECT count(*) AS n FROM outbox_events o WHERE status = 'PENDING' AND ${HELD_BEHIND_CONFLICT}`,
    );
    this.unresolvedOfStmt = db.prepare(`
      SELECT * FROM outbox_events
      WHERE entity_type = ? AND entity_id = ? AND status IN ${UNRESOLVED_STATUSES} ORDER BY seq`);
    this.dismissStmt = db.prepare(
      `UPDATE outbox_events SET dismissed_at = ? WHERE id = ? AND status = 'FAILED' AND dismissed_at IS NULL`,
    );
  }

  insert(event: NewOutboxEvent): void {
    this.insertStmt.run(
      event.id,
      event.tenantId,
      event.entityType,
      event.entityId,
      event.operation,
      JSON.stringify(event.payload),
      event.localVersion,
      event.createdAt,
    );
  }

  byId(id: string): OutboxRow | undefined {
    return this.byIdStmt.get(id);
  }

  pendingBatch(limit: number): OutboxRow[] {
    return this.pendingStmt.all(limit);
  }

  byStatus(status: OutboxStatus): OutboxRow[] {
    return this.byStatusStmt.all(status);
  }

  /** Refused (FAILED) edits the user has not dismissed, oldest first. */
  refused(): OutboxRow[] {
    return this.refusedStmt.all();
  }

  /** PENDING edits held behind a conflict of their entity (see pendingBatch): they wait for the user. */
  heldCount(): number {
    return this.heldStmt.get()?.n ?? 0;
  }

  /** Returns whether a refusal was there to dismiss. */
  dismiss(id: string, now: string): boolean {
    return this.dismissStmt.run(now, id).changes === 1;
  }

  /** PENDING → SENT, counting the attempt; returns how many moved. */
  markSent(ids: readonly string[], now: string): number {
    let moved = 0;
    for (const id of ids) moved += this.markSentStmt.run(now, id).changes;
    return moved;
  }

  /** SENT → PENDING: an upload cut short is sent again; the server answers a repeated event id the same way. */
  resumeSent(): number {
    return this.resumeStmt.run().changes;
  }

  counts(): Record<OutboxStatus, number> {
    const counts: Record<OutboxStatus, number> = {
      PENDING: 0,
      SENT: 0,
      ACKNOWLEDGED: 0,
      FAILED: 0,
      CONFLICT: 0,
    };
    for (const { status, n } of this.countsStmt.all()) counts[status] = n;
    return counts;
  }

  /** Keys `${type}:${id}` of every entity an incoming change must not overwrite. */
  unresolvedKeys(): Set<string> {
    const keys = new Set<string>();
    for (const row of this.unresolvedKeysStmt.iterate()) keys.add(entityKey(row.entity_type, row.entity_id));
    return keys;
  }

  /** One entity's edits not yet settled with the server (pending, sent, or in conflict), oldest first. */
  unresolvedOf(type: EntityType, id: string): OutboxRow[] {
    return this.unresolvedOfStmt.all(type, id);
  }

  hasUnresolved(type: EntityType, id: string): boolean {
    return this.hasUnresolvedStmt.get(type, id) !== undefined;
  }

  /** Deletes acknowledged events older than `before` (ISO time), except resolutions not yet told to the server. */
  prune(before: string): number {
    return this.pruneStmt.run(before, before).changes;
  }
}

export function entityKey(type: EntityType, id: string): string {
  return `${type}:${id}`;
}
