import type Database from 'better-sqlite3';
import type { EntityType } from '../../shared/entities.ts';
import type { SyncUpResponse } from '../../shared/protocol.ts';
import { noteChanged, type ChangedIds } from './apply.ts';
import type { EntityStore } from './entity-store.ts';
import type { OutboxRow, OutboxStore } from './outbox-store.ts';

/** What an `/up` (or resolve) response did to the outbox. */
export interface UploadOutcome {
  acknowledged: number;
  conflicts: number;
  rejected: number;
  /** Entries about events this desk does not have, or answered already. */
  ignored: number;
  /** Events sent but absent from the response, put back to PENDING. */
  requeued: number;
  replacedIds: { entityType: EntityType; from: string; to: string }[];
}

/** Columns holding a reference to each type, used to repoint rows when the server renames an id. */
const REFERENCES: Partial<Record<EntityType, { types: EntityType[]; column: string }>> = {
  STUDENT: {
    types: ['GRADE', 'PAYMENT', 'ATTENDANCE', 'ABSENCE', 'DISCIPLINARY_INCIDENT'],
    column: 'student_id',
  },
  CLASS: { types: ['STUDENT', 'EXAM', 'ATTENDANCE'], column: 'class_id' },
  EXAM: { types: ['GRADE'], column: 'exam_id' },
  ACADEMIC_YEAR: { types: ['CLASS'], column: 'academic_year_id' },
  SCHOOL_LEVEL: { types: ['CLASS'], column: `json_extract(doc, '$.schoolLevelId')` },
};

type Params3 = [string, string, string];

/** Turns the server's answer into outbox statuses, row versions, rebased events and renamed ids. */
export class UploadResponseApplier {
  private readonly ackStmt: Database.Statement<[string, number, string, string, string]>;
  private readonly rebaseStmt: Database.Statement<[number, EntityType, string, number]>;
  private readonly conflictStmt: Database.Statement<[string | null, string, string]>;
  private readonly rejectStmt: Database.Statement<[string, string, string | null, string, string]>;
  private readonly resolutionSentStmt: Database.Statement<[string, string]>;
  private readonly requeueStmt: Database.Statement<[string]>;
  private readonly rowExistsStmt: Database.Statement<[EntityType, string], { one: 1 }>;
  private readonly renameRowStmt: Database.Statement<[{ type: EntityType; to: string; from: string }]>;
  private readonly dropRowStmt: Database.Statement<[EntityType, string]>;
  private readonly repointRefsStmts: Map<string, Database.Statement<[string, string, EntityType, string]>>;
  private readonly repointUnsyncedRowsStmt: Database.Statement<Params3>;
  private readonly renameEventsStmt: Database.Statement<[string, EntityType, string]>;
  private readonly repointPayloadsStmt: Database.Statement<Params3>;
  private readonly renameHeldStmt: Database.Statement<[string, EntityType, string]>;

  constructor(
    db: Database.Database,
    private readonly entities: EntityStore,
    private readonly outbox: OutboxStore,
  ) {
    this.ackStmt = db.prepare(`
      UPDATE outbox_events SET status = 'ACKNOWLEDGED', server_event_id = ?, server_version = ?,
        acknowledged_at = ?, error_code = NULL, error_message = NULL,
        resolution_sent_at = CASE WHEN resolution IS NULL THEN NULL ELSE ? END
      WHERE id = ?`);
    this.rebaseStmt = db.prepare(`
      UPDATE outbox_events SET local_version = ?
      WHERE entity_type = ? AND entity_id = ? AND status = 'PENDING' AND seq > ?`);
    this.conflictStmt = db.prepare(`
      UPDATE outbox_events SET status = 'CONFLICT', server_data = ?, error_code = 'CONFLICT', error_message = ?,
        resolution = NULL, resolution_sent_at = NULL
      WHERE id = ?`);
    this.rejectStmt = db.prepare(`
      UPDATE outbox_events SET status = 'FAILED', error_code = ?, error_message = ?, error_detail = ?,
        resolution_sent_at = CASE WHEN resolution IS NULL THEN NULL ELSE ? END
      WHERE id = ?`);
    this.resolutionSentStmt = db.prepare('UPDATE outbox_events SET resolution_sent_at = ? WHERE id = ?');
    this.requeueStmt = db.prepare(
      `UPDATE outbox_events SET status = 'PENDING' WHERE id = ? AND status = 'SENT'`,
    );
    this.rowExistsStmt = db.prepare('SELECT 1 AS one FROM entities WHERE entity_type = ? AND id = ?');
    this.renameRowStmt = db.prepare(
      `UPDATE entities SET id = @to, doc = json_set(doc, '$.id', @to) WHERE entity_type = @type AND id = @from`,
    );
    this.dropRowStmt = db.prepare('DELETE FROM entities WHERE entity_type = ? AND id = ?');
    // UUIDs appear in JSON text only as "…" with nothing to escape, so a quoted replace is exact.
    this.repointRefsStmts = new Map(
      Object.values(REFERENCES).map(({ column }) => [
        column,
        db.prepare(`UPDATE entities SET doc = replace(doc, ?, ?) WHERE entity_type = ? AND ${column} = ?`),
      ]),
    );
    this.repointUnsyncedRowsStmt = db.prepare(`
      UPDATE entities SET doc = replace(doc, ?, ?)
      WHERE instr(doc, ?) > 0 AND (entity_type, id) IN (
        SELECT entity_type, entity_id FROM outbox_events WHERE status <> 'ACKNOWLEDGED')`);
    this.renameEventsStmt = db.prepare(`
      UPDATE outbox_events SET entity_id = ? WHERE entity_type = ? AND entity_id = ? AND status <> 'ACKNOWLEDGED'`);
    this.repointPayloadsStmt = db.prepare(`
      UPDATE outbox_events SET payload = replace(payload, ?, ?)
      WHERE status IN ('PENDING', 'SENT', 'CONFLICT', 'FAILED') AND instr(payload, ?) > 0`);
    this.renameHeldStmt = db.prepare(
      'UPDATE OR REPLACE held_changes SET id = ? WHERE entity_type = ? AND id = ?',
    );
  }

  /** Runs inside the caller's transaction. Entries are handled in the order the server lists them. */
  apply(
    response: SyncUpResponse,
    sentIds: readonly string[],
    now: string,
    changed: ChangedIds,
  ): UploadOutcome {
    const outcome: UploadOutcome = {
      acknowledged: 0,
      conflicts: 0,
      rejected: 0,
      ignored: 0,
      requeued: 0,
      replacedIds: [],
    };
    const answered = new Set<string>();
    for (const ack of response.acknowledged) {
      answered.add(ack.outboxEventId);
      const event = this.outbox.byId(ack.outboxEventId);
      if (event === undefined || this.answeredAlready(event, now)) {
        outcome.ignored += 1;
        continue;
      }
      let entityId = event.entity_id;
      if (ack.entityId !== entityId) {
        this.replaceEntityId(event.entity_type, entityId, ack.entityId, changed);
        outcome.replacedIds.push({ entityType: event.entity_type, from: entityId, to: ack.entityId });
        entityId = ack.entityId;
      }
      this.ackStmt.run(ack.serverEventId, ack.serverVersion, now, now, event.id);
      this.entities.acknowledge(event.entity_type, entityId, ack.serverVersion);
      this.rebaseStmt.run(ack.serverVersion, event.entity_type, entityId, event.seq);
      this.releaseIfSettled(event.entity_type, entityId, changed);
      outcome.acknowledged += 1;
    }
    for (const conflict of response.conflicts) {
      answered.add(conflict.outboxEventId);
      const event = this.outbox.byId(conflict.outboxEventId);
      if (event === undefined || this.answeredAlready(event, now)) {
        outcome.ignored += 1;
        continue;
      }
      const serverData = conflict.serverData === null ? null : JSON.stringify(conflict.serverData);
      this.conflictStmt.run(serverData, conflict.reason, event.id);
      outcome.conflicts += 1;
    }
    for (const rejection of response.rejected) {
      answered.add(rejection.outboxEventId);
      const event = this.outbox.byId(rejection.outboxEventId);
      if (event === undefined || this.answeredAlready(event, now)) {
        outcome.ignored += 1;
        continue;
      }
      const detail =
        rejection.rule === undefined
          ? null
          : JSON.stringify({ rule: rejection.rule, params: rejection.params ?? {} });
      this.rejectStmt.run(rejection.code, rejection.reason, detail, now, event.id);
      this.releaseIfSettled(event.entity_type, event.entity_id, changed);
      outcome.rejected += 1;
    }
    for (const id of sentIds) {
      if (!answered.has(id)) outcome.requeued += this.requeueStmt.run(id).changes;
    }
    return outcome;
  }

  /**
   * An event already ACKNOWLEDGED gets no second answer (the server is idempotent). The one exception is an
   * ACCEPT_SERVER resolution, settled locally at once: the server's answer only records that it was told.
   */
  private answeredAlready(event: OutboxRow, now: string): boolean {
    if (event.status !== 'ACKNOWLEDGED') return false;
    if (event.resolution !== null && event.resolution_sent_at === null)
      this.resolutionSentStmt.run(now, event.id);
    return true;
  }

  /** Once no event of the entity is unresolved, a server change held back meanwhile gets its turn. */
  releaseIfSettled(type: EntityType, id: string, changed: ChangedIds): void {
    if (this.outbox.hasUnresolved(type, id)) return;
    if (this.entities.releaseHeld(type, id)) noteChanged(changed, type, id);
  }

  /** The server kept another id for the entity: rename the row and repoint every local reference to it. */
  private replaceEntityId(type: EntityType, from: string, to: string, changed: ChangedIds): void {
    if (this.rowExistsStmt.get(type, to) === undefined) this.renameRowStmt.run({ type, to, from });
    else this.dropRowStmt.run(type, from);
    const quotedFrom = JSON.stringify(from);
    const quotedTo = JSON.stringify(to);
    const refs = REFERENCES[type];
    if (refs !== undefined) {
      const stmt = this.repointRefsStmts.get(refs.column);
      for (const refType of refs.types) stmt?.run(quotedFrom, quotedTo, refType, from);
    }
    this.repointUnsyncedRowsStmt.run(quotedFrom, quotedTo, from);
    this.renameEventsStmt.run(to, type, from);
    this.repointPayloadsStmt.run(quotedFrom, quotedTo, from);
    this.renameHeldStmt.run(to, type, from);
    noteChanged(changed, type, from);
    noteChanged(changed, type, to);
  }
}
