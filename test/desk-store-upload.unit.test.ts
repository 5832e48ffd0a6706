import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeskStore } from '../desktop/store/index.ts';
import type { SyncUpResponse } from '../shared/protocol.ts';
import { studentChange, tempDesk, uuid } from './desk-store.fixtures.ts';

/** What an edit gives back that these tests use. */
type LocalEdit = { outboxEventId: string };

const AT = '2024-09-02T08:00:00Z';
const none = { acknowledged: [], conflicts: [], rejected: [], syncTimestamp: AT } satisfies SyncUpResponse;

function outboxRow(path: string, id: string): Record<string, unknown> {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM outbox_events WHERE id = ?').get(id) as Record<string, unknown>;
  } finally {
    db.close();
  }
}

function seedStudent(store: DeskStore, version = 4): string {
  const id = uuid();
  store.applyChanges([studentChange(id, version)], `seed-${id}`);
  return id;
}

/** The server's copy of student `id` at version 7, as a conflict carries it. */
function theirs(store: DeskStore, id: string): Record<string, unknown> {
  return { id, tenantId: store.tenantId, firstName: 'Theirs', lastName: 'Dupont', serverVersion: 7 };
}

/**
 * A student at version 4 edited twice on this desk (the second edit: another update, or `second`); both
 * edits met the server's version 7 in one upload.
 */
function twoEditsInConflict(
  store: DeskStore,
  second: (id: string) => LocalEdit = (id) => store.update('STUDENT', id, { firstName: 'Two' }),
): { id: string; one: LocalEdit; two: LocalEdit } {
  const id = seedStudent(store, 4);
  const one = store.update('STUDENT', id, { firstName: 'One' });
  const two = second(id);
  store.markSent([one.outboxEventId, two.outboxEventId]);
  const serverData = theirs(store, id);
  store.applyUploadResponse({
    ...none,
    conflicts: [
      { outboxEventId: one.outboxEventId, reason: 'moved', serverData },
      { outboxEventId: two.outboxEventId, reason: 'moved', serverData },
    ],
  });
  return { id, one, two };
}

describe('desk store: outbox and upload responses', () => {
  let desk: ReturnType<typeof tempDesk>;
  beforeEach(() => {
    desk = tempDesk();
  });
  afterEach(() => desk.cleanup());

  it('pendingBatch gives PENDING events in creation order; markSent counts the attempt', () => {
    const store = desk.open();
    const ids = Array.from(
      { length: 5 },
      (_, i) => store.create('SCHOOL_LEVEL', { name: `L${i}`, rank: i }).outboxEventId,
    );
    expect(store.pendingBatch(3).map((e) => e.id)).toEqual(ids.slice(0, 3));
    expect(store.markSent(ids.slice(0, 3))).toBe(3);
    expect(store.pendingBatch().map((e) => e.id)).toEqual(ids.slice(3));
    expect(store.pendingCount()).toBe(5);
    expect(outboxRow(desk.path(), ids[0]!)).toMatchObject({ status: 'SENT', attempt_count: 1 });
    expect(outboxRow(desk.path(), ids[0]!).last_attempt_at).toEqual(expect.any(String));
  });

  it('an ack stores serverEventId and serverVersion, moves the row to that version and rebases later edits', () => {
    const store = desk.open();
    const id = seedStudent(store, 4);
    const first = store.update('STUDENT', id, { firstName: 'One' });
    store.markSent([first.outboxEventId]);
    const second = store.update('STUDENT', id, { firstName: 'Two' }); // made while the first was in flight
    expect(store.pendingBatch()[0]?.localVersion).toBe(4);
    const outcome = store.applyUploadResponse(
      {
        ...none,
        acknowledged: [
          { outboxEventId: first.outboxEventId, serverEventId: 'evt-9', entityId: id, serverVersion: 9 },
        ],
      },
      [first.outboxEventId],
    );
    expect(outcome).toMatchObject({ acknowledged: 1, conflicts: 0, rejected: 0, requeued: 0 });
    expect(outboxRow(desk.path(), first.outboxEventId)).toMatchObject({
      status: 'ACKNOWLEDGED',
      server_event_id: 'evt-9',
      server_version: 9,
    });
    expect(store.get('STUDENT', id)).toMatchObject({ firstName: 'Two', serverVersion: 9 });
    expect(store.pendingBatch()).toEqual([
      expect.objectContaining({ id: second.outboxEventId, localVersion: 9 }),
    ]);
    expect(store.pendingCount()).toBe(1);
  });

  it('an ack with another entityId replaces the local id everywhere', () => {
    const store = desk.open();
    const classId = uuid();
    const student = store.create('STUDENT', { firstName: 'Léa', lastName: 'Roux', classId });
    const localId = student.entity.id;
    const grade = store.create('GRADE', { examId: uuid(), studentId: localId, score: 15 });
    const payment = store.create('PAYMENT', {
      studentId: localId,
      amountCents: 5000,
      currency: 'EUR',
      paidAt: '2024-09-02T08:00:00Z',
      method: 'CARD',
    });
    store.markSent([student.outboxEventId, grade.outboxEventId]);
    const serverId = uuid();
    const outcome = store.applyUploadResponse(
      {
        ...none,
        acknowledged: [
          { outboxEventId: student.outboxEventId, serverEventId: 'e1', entityId: serverId, serverVersion: 3 },
        ],
      },
      [student.outboxEventId, grade.outboxEventId],
    );
    expect(outcome.replacedIds).toEqual([{ entityType: 'STUDENT', from: localId, to: serverId }]);
    expect(outcome.requeued).toBe(1); // the grade was sent but not answered
    expect(store.get('STUDENT', localId)).toBeUndefined();
    expect(store.get('STUDENT', serverId)).toMatchObject({
      id: serverId,
      firstName: 'Léa',
      serverVersion: 3,
    });
    expect(store.studentsOfClass(classId).map((s) => s.id)).toEqual([serverId]);
    expect(store.gradesOfStudent(serverId).map((g) => g.id)).toEqual([grade.entity.id]);
    expect(store.paymentsOfStudent(serverId).map((p) => p.id)).toEqual([payment.entity.id]);
    expect(store.gradesOfStudent(localId)).toEqual([]);
    const batch = store.pendingBatch();
    expect(batch.map((e) => e.payload.studentId)).toEqual([serverId, serverId]);
    expect(JSON.stringify(batch)).not.toContain(localId);
    expect(outboxRow(desk.path(), student.outboxEventId)).toMatchObject({
      entity_id: serverId,
      status: 'ACKNOWLEDGED',
    });
  });

  it('a conflict is kept with serverData and shown beside the local edit', () => {
    const store = desk.open();
    const id = seedStudent(store, 4);
    const edit = store.update('STUDENT', id, { firstName: 'Mine', notes: 'allergy' });
    store.markSent([edit.outboxEventId]);
    const serverData = {
      id,
      tenantId: store.tenantId,
      firstName: 'Theirs',
      lastName: 'Dupont',
      serverVersion: '6',
    };
    store.applyUploadResponse({
      ...none,
      conflicts: [{ outboxEventId: edit.outboxEventId, reason: 'version 6 ≠ 4', serverData }],
    });
    expect(store.outboxCounts()).toMatchObject({ CONFLICT: 1, SENT: 0 });
    expect(outboxRow(desk.path(), edit.outboxEventId)).toMatchObject({
      status: 'CONFLICT',
      error_message: 'version 6 ≠ 4',
    });
    const [conflict] = store.conflicts();
    expect(conflict).toMatchObject({
      outboxEventId: edit.outboxEventId,
      entityType: 'STUDENT',
      entityId: id,
      operation: 'UPDATE',
      reason: 'version 6 ≠ 4',
      localVersion: 4,
      local: { payload: { firstName: 'Mine', notes: 'allergy' }, current: { firstName: 'Mine' } },
      server: { data: serverData, serverVersion: 6 },
      differingFields: ['firstName', 'notes'],
      resolution: null,
    });
  });

  it('a rejection marks the event FAILED with the code and reason', () => {
    const store = desk.open();
    const edit = store.create('GRADE', { examId: uuid(), studentId: uuid(), score: 12 });
    store.markSent([edit.outboxEventId]);
    store.applyUploadResponse({
      ...none,
      rejected: [{ outboxEventId: edit.outboxEventId, code: 'REFERENCE', reason: 'examId: no such exam' }],
    });
    expect(outboxRow(desk.path(), edit.outboxEventId)).toMatchObject({
      status: 'FAILED',
      error_code: 'REFERENCE',
      error_message: 'examId: no such exam',
    });
    expect(store.pendingCount()).toBe(0);
  });

  it('a repeated answer for an acknowledged event changes nothing', () => {
    const store = desk.open();
    const id = seedStudent(store, 4);
    const edit = store.update('STUDENT', id, { firstName: 'Once' });
    const answer = {
      ...none,
      acknowledged: [
        { outboxEventId: edit.outboxEventId, serverEventId: 'e', entityId: id, serverVersion: 5 },
      ],
    };
    store.applyUploadResponse(answer);
    store.applyChanges([studentChange(id, 6, { firstName: 'Later' })], 'c');
    const later = store.update('STUDENT', id, { lastName: 'Again' });
    expect(store.applyUploadResponse(answer)).toMatchObject({ acknowledged: 0, ignored: 1 });
    expect(store.get('STUDENT', id)?.serverVersion).toBe(6);
    expect(store.pendingBatch()).toEqual([
      expect.objectContaining({ id: later.outboxEventId, localVersion: 6 }),
    ]);
  });

  it('SENT events go back to PENDING when the desk restarts, and are sent again with the same id', () => {
    const first = desk.open();
    const { outboxEventId } = first.create('TEACHER', { firstName: 'A', lastName: 'B' });
    first.markSent([outboxEventId]);
    expect(first.pendingBatch()).toEqual([]);
    first.close();
    const again = desk.open();
    expect(again.pendingBatch()).toEqual([
      expect.objectContaining({ id: outboxEventId, status: 'PENDING', attemptCount: 1 }),
    ]);
    again.markSent([outboxEventId]);
    expect(again.resumeSent()).toBe(1);
  });

  it('pruneAcknowledged removes acknowledged events older than the age, nothing else', () => {
    let now = new Date('2024-09-01T00:00:00Z');
    const store = desk.open(undefined, { now: () => now });
    const old = store.create('SCHOOL_LEVEL', { name: 'Old', rank: 1 });
    store.applyUploadResponse({
      ...none,
      acknowledged: [
        { outboxEventId: old.outboxEventId, serverEventId: 'a', entityId: old.entity.id, serverVersion: 1 },
      ],
    });
    const pending = store.create('SCHOOL_LEVEL', { name: 'Pending', rank: 2 });
    now = new Date('2024-09-20T00:00:00Z');
    const recent = store.create('SCHOOL_LEVEL', { name: 'Recent', rank: 3 });
    store.applyUploadResponse({
      ...none,
      acknowledged: [
        {
          outboxEventId: recent.outboxEventId,
          serverEventId: 'b',
          entityId: recent.entity.id,
          serverVersion: 2,
        },
      ],
    });
    now = new Date('2024-09-30T00:00:00Z');
    expect(store.pruneAcknowledged(14 * 24 * 3600_000)).toBe(1);
    expect(outboxRow(desk.path(), old.outboxEventId)).toBeUndefined();
    expect(outboxRow(desk.path(), recent.outboxEventId)).toMatchObject({ status: 'ACKNOWLEDGED' });
    expect(store.pendingBatch().map((e) => e.id)).toEqual([pending.outboxEventId]);
  });

  it('ACCEPT_SERVER puts the server copy in place at once and keeps the request until the server answers', () => {
    const store = desk.open();
    const [kept, gone] = [seedStudent(store, 4), seedStudent(store, 4)];
    const editKept = store.update('STUDENT', kept, { firstName: 'Mine' });
    const editGone = store.update('STUDENT', gone, { firstName: 'Mine too' });
    const serverData = theirs(store, kept);
    store.applyUploadResponse({
      ...none,
      conflicts: [
        { outboxEventId: editKept.outboxEventId, reason: 'moved', serverData },
        { outboxEventId: editGone.outboxEventId, reason: 'deleted', serverData: null },
      ],
    });
    const request = store.resolveLocally(editKept.outboxEventId, 'ACCEPT_SERVER');
    expect(request).toEqual({
      outboxEventId: editKept.outboxEventId,
      request: { choice: 'ACCEPT_SERVER', serverVersion: 7 },
    });
    expect(store.get('STUDENT', kept)).toMatchObject({ firstName: 'Theirs', serverVersion: 7 });
    store.resolveLocally(editGone.outboxEventId, 'ACCEPT_SERVER');
    expect(store.get('STUDENT', gone)).toBeUndefined();
    expect(store.conflicts()).toEqual([]);
    expect(store.unsentResolutions().map((r) => r.outboxEventId)).toEqual([
      editKept.outboxEventId,
      editGone.outboxEventId,
    ]);
    expect(store.pruneAcknowledged(0)).toBe(0); // an unanswered resolution is not pruned
    store.applyUploadResponse({
      ...none,
      acknowledged: [
        { outboxEventId: editKept.outboxEventId, serverEventId: 'r', entityId: kept, serverVersion: 7 },
      ],
    });
    expect(store.unsentResolutions().map((r) => r.outboxEventId)).toEqual([editGone.outboxEventId]);
    // The row is the server's copy: a change at that version is a redelivery, a newer one applies.
    expect(store.applyChanges([studentChange(kept, 7, { firstName: 'Theirs' })], 'c1').skipped).toBe(1);
    expect(store.applyChanges([studentChange(kept, 8, { firstName: 'Newer' })], 'c2').applied).toBe(1);
  });

  it('KEEP_LOCAL shields the row until the server answers; the ack settles it, a new conflict returns it', () => {
    const store = desk.open();
    const id = seedStudent(store, 4);
    const edit = store.update('STUDENT', id, { firstName: 'Mine' });
    const serverData = theirs(store, id);
    store.applyUploadResponse({
      ...none,
      conflicts: [{ outboxEventId: edit.outboxEventId, reason: 'moved', serverData }],
    });
    const later = store.update('STUDENT', id, { lastName: 'Mine-Later' });
    const { request } = store.resolveLocally(edit.outboxEventId, 'KEEP_LOCAL');
    expect(request).toEqual({
      choice: 'KEEP_LOCAL',
      payload: expect.objectContaining({ firstName: 'Mine', id }),
      serverVersion: 7,
    });
    expect(store.conflicts()).toEqual([expect.objectContaining({ resolution: 'KEEP_LOCAL' })]);
    expect(store.applyChanges([studentChange(id, 8, { firstName: 'Other' })], 'c1').held).toBe(1);

    // The server applied our payload on top of 7 (→ 9) but meanwhile the row moved again: a new conflict.
    const newer = { ...serverData, firstName: 'Other', serverVersion: 8 };
    store.applyUploadResponse({
      ...none,
      conflicts: [{ outboxEventId: edit.outboxEventId, reason: 'moved again', serverData: newer }],
    });
    expect(store.conflicts()).toEqual([
      expect.objectContaining({ resolution: null, server: { data: newer, serverVersion: 8 } }),
    ]);
    expect(store.unsentResolutions()).toEqual([]);

    store.resolveLocally(edit.outboxEventId, 'KEEP_LOCAL');
    store.applyUploadResponse({
      ...none,
      acknowledged: [
        { outboxEventId: edit.outboxEventId, serverEventId: 'r2', entityId: id, serverVersion: 9 },
      ],
    });
    expect(store.conflicts()).toEqual([]);
    expect(store.get('STUDENT', id)).toMatchObject({
      firstName: 'Mine',
      lastName: 'Mine-Later',
      serverVersion: 9,
    });
    expect(store.pendingBatch()).toEqual([
      expect.objectContaining({ id: later.outboxEventId, localVersion: 9 }),
    ]);
    expect(() => store.resolveLocally(edit.outboxEventId, 'KEEP_LOCAL')).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_CONFLICT' }),
    );
  });

  it('one decision per record: two edits that met the conflict in one upload show once; KEEP_LOCAL keeps the latest; an edit made since waits, then goes on top', () => {
    const store = desk.open();
    const { id, one, two } = twoEditsInConflict(store);
    const since = store.update('STUDENT', id, { lastName: 'Since' });
    // Sent now, it would only meet the same conflict.
    expect(store.pendingBatch()).toEqual([]);
    expect(store.pendingCount()).toBe(1);
    expect(store.outboxFigures()).toEqual({ pending: 1, held: 1, conflicts: 2 });
    expect(store.conflicts()).toEqual([
      expect.objectContaining({
        outboxEventId: one.outboxEventId,
        edits: 3,
        local: expect.objectContaining({ payload: expect.objectContaining({ firstName: 'Two' }) }),
      }),
    ]);

    const { outboxEventId, request } = store.resolveLocally(one.outboxEventId, 'KEEP_LOCAL');
    expect(outboxEventId).toBe(one.outboxEventId);
    expect(request).toEqual({
      choice: 'KEEP_LOCAL',
      payload: expect.objectContaining({ firstName: 'Two' }),
      serverVersion: 7,
    });
    expect(outboxRow(desk.path(), two.outboxEventId)).toMatchObject({
      status: 'ACKNOWLEDGED',
      error_code: 'SUPERSEDED',
    });
    expect(store.unsentResolutions().map((r) => r.outboxEventId)).toEqual([one.outboxEventId]);
    expect(store.pendingBatch()).toEqual([]);

    store.applyUploadResponse({
      ...none,
      acknowledged: [
        { outboxEventId: one.outboxEventId, serverEventId: 'r1', entityId: id, serverVersion: 9 },
      ],
    });
    expect(store.conflicts()).toEqual([]);
    expect(store.outboxFigures()).toEqual({ pending: 1, held: 0, conflicts: 0 });
    expect(store.pendingBatch()).toEqual([
      expect.objectContaining({
        id: since.outboxEventId,
        localVersion: 9,
        payload: expect.objectContaining({ firstName: 'Two', lastName: 'Since' }),
      }),
    ]);
  });

  it('ACCEPT_SERVER settles every conflicting edit of the record, tells the server of each, and drops the edits made since', () => {
    const store = desk.open();
    const { id, one, two } = twoEditsInConflict(store);
    const since = store.update('STUDENT', id, { lastName: 'Since' });
    store.resolveLocally(one.outboxEventId, 'ACCEPT_SERVER');
    expect(store.get('STUDENT', id)).toMatchObject({
      firstName: 'Theirs',
      lastName: 'Dupont',
      serverVersion: 7,
    });
    expect(store.conflicts()).toEqual([]);
    expect(store.pendingCount()).toBe(0);
    expect(outboxRow(desk.path(), since.outboxEventId)).toMatchObject({
      status: 'ACKNOWLEDGED',
      error_code: 'SUPERSEDED',
    });
    expect(store.unsentResolutions()).toEqual([
      { outboxEventId: one.outboxEventId, request: { choice: 'ACCEPT_SERVER', serverVersion: 7 } },
      { outboxEventId: two.outboxEventId, request: { choice: 'ACCEPT_SERVER', serverVersion: 7 } },
    ]);
    // A server change now reaches the row: nothing of this desk holds it any more.
    expect(store.applyChanges([studentChange(id, 8, { firstName: 'Later' })], 'c8').held).toBe(0);
    expect(store.get('STUDENT', id)?.firstName).toBe('Later');
  });

  it('edited, then deleted, both in conflict: KEEP_LOCAL keeps the edit and deletes on top of its answer', () => {
    const store = desk.open();
    const { id, one: edit } = twoEditsInConflict(store, (id) => store.remove('STUDENT', id));
    expect(store.conflicts()).toEqual([expect.objectContaining({ operation: 'DELETE', edits: 2 })]);
    store.resolveLocally(edit.outboxEventId, 'KEEP_LOCAL');
    expect(store.pendingBatch()).toEqual([]);
    store.applyUploadResponse({
      ...none,
      acknowledged: [
        { outboxEventId: edit.outboxEventId, serverEventId: 'r1', entityId: id, serverVersion: 9 },
      ],
    });
    expect(store.pendingBatch()).toEqual([
      expect.objectContaining({ operation: 'DELETE', entityId: id, localVersion: 9 }),
    ]);
    expect(store.get('STUDENT', id)).toBeUndefined();
  });
});
