import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeskStore } from '../desktop/store/index.ts';
import { TENANT, change, studentChange, tempDesk, uuid } from './desk-store.fixtures.ts';

const STORE_MODULE = fileURLToPath(new URL('../desktop/store/index.ts', import.meta.url));
const FIXTURES_MODULE = fileURLToPath(new URL('./desk-store.fixtures.ts', import.meta.url));

function ack(store: DeskStore, outboxEventId: string, entityId: string, serverVersion: number): void {
  store.applyUploadResponse({
    acknowledged: [{ outboxEventId, serverEventId: `srv-${serverVersion}`, entityId, serverVersion }],
    conflicts: [],
    rejected: [],
    syncTimestamp: '2024-09-02T08:00:00Z',
  });
}

describe('desk store: applying server changes', () => {
  let desk: ReturnType<typeof tempDesk>;
  beforeEach(() => {
    desk = tempDesk();
  });
  afterEach(() => desk.cleanup());

  it('a change is applied only if its serverVersion is greater than the local row', () => {
    const store = desk.open();
    const id = uuid();
    expect(store.applyChanges([studentChange(id, 5, { firstName: 'Five' })], 'c1')).toEqual({
      applied: 1,
      skipped: 0,
      held: 0,
    });
    const result = store.applyChanges(
      [studentChange(id, 3, { firstName: 'Three' }), studentChange(id, 5, { firstName: 'Five again' })],
      'c2',
    );
    expect(result).toEqual({ applied: 0, skipped: 2, held: 0 });
    expect(store.get('STUDENT', id)).toMatchObject({ firstName: 'Five', serverVersion: 5 });
    store.applyChanges(
      [studentChange(id, 9, { firstName: 'Nine' }), studentChange(id, 7, { firstName: 'Seven' })],
      'c3',
    );
    expect(store.get('STUDENT', id)).toMatchObject({ firstName: 'Nine', serverVersion: 9 });
    expect(store.syncState().cursor).toBe('c3');
  });

  it('a DELETE leaves a tombstone with its version, so an older change arriving later is not applied', () => {
    const store = desk.open();
    const id = uuid();
    store.applyChanges([studentChange(id, 5), change('STUDENT', id, 8, {}, 'DELETE')], 'c1');
    expect(store.get('STUDENT', id)).toBeUndefined();
    expect(store.count('STUDENT')).toBe(0);
    expect(store.applyChanges([studentChange(id, 6, { firstName: 'Late' })], 'c2').skipped).toBe(1);
    expect(store.get('STUDENT', id)).toBeUndefined();
    // A DELETE of a row this desk never saw still leaves its version behind.
    const unseen = uuid();
    store.applyChanges([change('STUDENT', unseen, 20, {}, 'DELETE'), studentChange(unseen, 19)], 'c3');
    expect(store.get('STUDENT', unseen)).toBeUndefined();
    // Re-created later on the server with a greater version: back.
    store.applyChanges([studentChange(id, 30, { firstName: 'Back' })], 'c4');
    expect(store.get('STUDENT', id)).toMatchObject({ firstName: 'Back', serverVersion: 30 });
  });

  it('an entity with a PENDING, SENT or CONFLICT outbox event is not overwritten by an incoming change', () => {
    const store = desk.open();
    const [a, b, c] = [uuid(), uuid(), uuid()];
    store.applyChanges([studentChange(a, 1), studentChange(b, 1), studentChange(c, 1)], 'c1');
    const pending = store.update('STUDENT', a, { firstName: 'Local A' });
    const sent = store.update('STUDENT', b, { firstName: 'Local B' });
    store.markSent([sent.outboxEventId]);
    const conflicted = store.update('STUDENT', c, { firstName: 'Local C' });
    store.markSent([conflicted.outboxEventId]);
    store.applyUploadResponse({
      acknowledged: [],
      conflicts: [{ outboxEventId: conflicted.outboxEventId, reason: 'moved', serverData: null }],
      rejected: [],
      syncTimestamp: '2024-09-02T08:00:00Z',
    });
    const result = store.applyChanges(
      [
        studentChange(a, 2, { firstName: 'Server A' }),
        studentChange(b, 2, { firstName: 'Server B' }),
        studentChange(c, 2, { firstName: 'Server C' }),
      ],
      'c2',
    );
    expect(result).toEqual({ applied: 0, skipped: 0, held: 3 });
    expect(store.get('STUDENT', a)?.firstName).toBe('Local A');
    expect(store.get('STUDENT', b)?.firstName).toBe('Local B');
    expect(store.get('STUDENT', c)?.firstName).toBe('Local C');
    expect(store.syncState().cursor).toBe('c2');
    void pending;
  });

  it('a change held back while its entity was pending lands once the outbox settles, if still newer', () => {
    const store = desk.open();
    const id = uuid();
    store.applyChanges([studentChange(id, 1)], 'c1');
    const edit = store.update('STUDENT', id, { firstName: 'Mine' });
    store.markSent([edit.outboxEventId]);
    // The server applied our edit as v2, then someone else wrote v3; both arrive before our ack.
    store.applyChanges(
      [studentChange(id, 2, { firstName: 'Mine' }), studentChange(id, 3, { firstName: 'Theirs' })],
      'c2',
    );
    expect(store.get('STUDENT', id)?.firstName).toBe('Mine');
    ack(store, edit.outboxEventId, id, 2);
    expect(store.get('STUDENT', id)).toMatchObject({ firstName: 'Theirs', serverVersion: 3 });
    expect(store.outboxCounts()).toMatchObject({ PENDING: 0, SENT: 0, ACKNOWLEDGED: 1 });
  });

  it("the server's echo of an acknowledged edit replaces the local doc at the same version", () => {
    const store = desk.open();
    const { entity, outboxEventId } = store.create('STUDENT', { firstName: 'Ana', lastName: 'Lima' });
    ack(store, outboxEventId, entity.id, 12);
    expect(store.get('STUDENT', entity.id)).not.toHaveProperty('schoolNumber');
    const echo = studentChange(entity.id, 12, { firstName: 'Ana', lastName: 'Lima', schoolNumber: 'S-0012' });
    expect(store.applyChanges([echo], 'c1').applied).toBe(1);
    expect(store.get('STUDENT', entity.id)).toMatchObject({ schoolNumber: 'S-0012', serverVersion: 12 });
    // Now the row is the server's own copy: the same version again is a plain redelivery.
    expect(store.applyChanges([echo], 'c2')).toMatchObject({ applied: 0, skipped: 1 });
  });

  it('a page and its cursor are saved in one transaction: a failure mid-page leaves neither', () => {
    const store = desk.open();
    store.applyChanges([studentChange(uuid(), 1)], 'c1');
    const foreign = {
      ...studentChange(uuid(), 3),
      payload: { id: uuid(), tenantId: uuid(), firstName: 'X', lastName: 'Y' },
    };
    const good = uuid();
    expect(() => store.applyChanges([studentChange(good, 2), foreign], 'c2')).toThrow(
      expect.objectContaining({ code: 'TENANT_MISMATCH' }),
    );
    expect(store.get('STUDENT', good)).toBeUndefined();
    expect(store.syncState().cursor).toBe('c1');
    expect(store.count('STUDENT')).toBe(1);
  });

  it('kill -9 in the middle of a page loses only uncommitted pages, together with their cursor', () => {
    const path = desk.path();
    const script = `
      import { DeskStore } from ${JSON.stringify(STORE_MODULE)};
      import { studentChange, uuid } from ${JSON.stringify(FIXTURES_MODULE)};
      const store = DeskStore.open(${JSON.stringify(path)}, { tenantId: ${JSON.stringify(TENANT)} });
      store.applyChanges(Array.from({ length: 1000 }, (_, i) => studentChange(uuid(), i + 1)), 'page-1');
      store.applyChanges(Array.from({ length: 1000 }, (_, i) => studentChange(uuid(), 2000 + i)), 'page-2');
      store.applyChanges(Array.from({ length: 1000 }, (_, i) => studentChange(uuid(), 3000 + i)), 'page-3', { deferCommit: true });
      const page4 = Array.from({ length: 1000 }, (_, i) => studentChange(uuid(), 4000 + i));
      // Dies while the store serialises the 500th change of page 4, inside its transaction.
      Object.defineProperty(page4[500].payload, 'firstName', { enumerable: true, get() { process.kill(process.pid, 'SIGKILL'); } });
      store.applyChanges(page4, 'page-4', { deferCommit: true });
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(child.signal).toBe('SIGKILL');
    const store = desk.open();
    expect(store.count('STUDENT')).toBe(2000);
    expect(store.syncState().cursor).toBe('page-2');
    const db = new Database(path, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('deferred pages share one commit, each page still atomic with its cursor', () => {
    const store = desk.open(undefined, { groupCommit: { maxChanges: 250, maxDelayMs: 60_000 } });
    const committed: string[] = [];
    store.on('committed', (e) => committed.push(e.cursor));
    const reader = new Database(desk.path(), { readonly: true });
    const durableCursor = (): unknown => reader.prepare('SELECT cursor FROM sync_state').pluck().get();
    store.applyChanges([studentChange(uuid(), 1)], 'p1', { deferCommit: true });
    store.applyChanges([studentChange(uuid(), 2)], 'p2', { deferCommit: true });
    expect(store.syncState().cursor).toBe('p2'); // this connection sees its own work
    expect(durableCursor()).toBeNull(); // another connection sees only committed work
    expect(() =>
      store.applyChanges(
        [studentChange(uuid(), 3), { ...studentChange(uuid(), 4), payload: { tenantId: uuid() } }],
        'p3',
        {
          deferCommit: true,
        },
      ),
    ).toThrow(expect.objectContaining({ code: 'TENANT_MISMATCH' }));
    expect(store.syncState().cursor).toBe('p2'); // p3 rolled back alone
    store.applyChanges(
      Array.from({ length: 300 }, (_, i) => studentChange(uuid(), 10 + i)),
      'p4',
      { deferCommit: true },
    );
    expect(durableCursor()).toBe('p4'); // the group filled up and committed
    expect(committed).toEqual(['p4']);
    store.applyChanges([studentChange(uuid(), 400)], 'p5', { deferCommit: true });
    store.create('TEACHER', { firstName: 'A', lastName: 'B' }); // any other write commits the group first
    expect(durableCursor()).toBe('p5');
    expect(store.count('STUDENT')).toBe(303);
    reader.close();
  });

  it('a snapshot clears the requested types except rows with pending edits, and resumes after a restart', () => {
    const first = desk.open();
    const [gone, kept, other] = [uuid(), uuid(), uuid()];
    first.applyChanges(
      [
        studentChange(gone, 1),
        studentChange(kept, 2),
        change('TEACHER', other, 3, { firstName: 'T', lastName: 'T' }),
      ],
      'old',
    );
    first.update('STUDENT', kept, { firstName: 'Pending' });
    const changed: unknown[] = [];
    first.on('changed', (e) => changed.push(e));
    first.beginSnapshot(['STUDENT']);
    expect(changed).toEqual([{ type: 'STUDENT', ids: null, source: 'server' }]);
    expect(first.get('STUDENT', gone)).toBeUndefined();
    expect(first.get('STUDENT', kept)?.firstName).toBe('Pending');
    expect(first.get('TEACHER', other)).toBeDefined();
    expect(first.syncState()).toMatchObject({
      cursor: null,
      snapshot: { entityTypes: ['STUDENT'], pageToken: null },
    });
    const fresh = uuid();
    first.applySnapshotPage([studentChange(fresh, 10, { firstName: 'Fresh' }), studentChange(kept, 11)], {
      cursor: 'snap',
      pageToken: 'page-2',
    });
    first.close();

    const again = desk.open();
    expect(again.syncState().snapshot).toMatchObject({ cursor: 'snap', pageToken: 'page-2' });
    again.applySnapshotPage([studentChange(uuid(), 12)], { cursor: 'snap' });
    again.finishSnapshot('snap', '2024-09-02T09:00:00Z');
    expect(again.syncState()).toMatchObject({
      cursor: 'snap',
      snapshot: null,
      lastSyncTimestamp: '2024-09-02T09:00:00Z',
    });
    expect(again.count('STUDENT')).toBe(3);
    expect(again.get('STUDENT', kept)?.firstName).toBe('Pending'); // still shielded by its pending edit
    expect(again.get('STUDENT', fresh)?.firstName).toBe('Fresh');
    expect(() => again.applySnapshotPage([], { cursor: 'snap' })).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE' }),
    );
  });

  it('a FAILED event does not shield its entity from newer server changes', () => {
    const store = desk.open();
    const id = uuid();
    store.applyChanges([studentChange(id, 1)], 'c1');
    const edit = store.update('STUDENT', id, { firstName: 'Rejected' });
    store.markSent([edit.outboxEventId]);
    store.applyUploadResponse({
      acknowledged: [],
      conflicts: [],
      rejected: [{ outboxEventId: edit.outboxEventId, code: 'VALIDATION', reason: 'firstName: too long' }],
      syncTimestamp: '2024-09-02T08:00:00Z',
    });
    store.applyChanges([studentChange(id, 2, { firstName: 'Server' })], 'c2');
    expect(store.get('STUDENT', id)?.firstName).toBe('Server');
    expect(store.failedEvents()).toEqual([
      expect.objectContaining({
        id: edit.outboxEventId,
        status: 'FAILED',
        errorMessage: 'firstName: too long',
      }),
    ]);
  });
});
