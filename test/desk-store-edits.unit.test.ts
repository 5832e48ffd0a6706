import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeskStoreError, ValidationError } from '../desktop/store/index.ts';
import { MIGRATIONS } from '../desktop/store/migrations.ts';
import { TENANT, tempDesk, uuid } from './desk-store.fixtures.ts';

describe('desk store: local edits', () => {
  let desk: ReturnType<typeof tempDesk>;
  beforeEach(() => {
    desk = tempDesk();
  });
  afterEach(() => desk.cleanup());

  it('an edit and its outbox event are written in one transaction', () => {
    const store = desk.open();
    // A second connection to the same file makes the outbox insert fail inside the store's transaction.
    const other = new Database(desk.path());
    other.exec(
      `CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox_events BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`,
    );
    const id = uuid();
    expect(() => store.create('STUDENT', { id, firstName: 'Jean', lastName: 'Dupont' })).toThrow(
      /disk on fire/,
    );
    expect(store.get('STUDENT', id)).toBeUndefined();
    expect(store.pendingCount()).toBe(0);
    expect(other.prepare('SELECT count(*) AS n FROM entities').get()).toEqual({ n: 0 });

    other.exec('DROP TRIGGER fail_outbox');
    store.create('STUDENT', { id, firstName: 'Jean', lastName: 'Dupont' });
    other.exec(
      `CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox_events BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`,
    );
    expect(() => store.update('STUDENT', id, { firstName: 'Paul' })).toThrow(/disk on fire/);
    expect(() => store.remove('STUDENT', id)).toThrow(/disk on fire/);
    expect(store.get('STUDENT', id)?.firstName).toBe('Jean');
    expect(store.pendingCount()).toBe(1);
    other.close();
  });

  it('a refused payload names every bad field and writes nothing', () => {
    const store = desk.open();
    let error: unknown;
    try {
      store.create('STUDENT', {
        firstName: '',
        lastName: 'Dupont',
        classId: 'not-a-uuid',
        birthDate: '31/12/2010',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const validation = error as ValidationError;
    expect(validation.code).toBe('VALIDATION');
    expect(validation.fields.sort()).toEqual(['birthDate', 'classId', 'firstName']);
    expect(validation.message).toMatch(/classId: must be a lowercase UUID/);
    expect(store.count('STUDENT')).toBe(0);
    expect(store.pendingCount()).toBe(0);

    const { entity } = store.create('PAYMENT', {
      studentId: uuid(),
      amountCents: 1000,
      currency: 'EUR',
      paidAt: '2024-09-02T08:00:00Z',
      method: 'CASH',
    });
    expect(() => store.update('PAYMENT', entity.id, { amountCents: 10.5, currency: 'euro' })).toThrow(
      expect.objectContaining({ fields: ['amountCents', 'currency'] }),
    );
    expect(store.get('PAYMENT', entity.id)?.amountCents).toBe(1000);
    expect(store.pendingCount()).toBe(1);
  });

  it('localVersion is the version last seen: 0 for a CREATE, the row serverVersion for UPDATE and DELETE', () => {
    const store = desk.open();
    const classId = uuid();
    const created = store.create('STUDENT', { firstName: 'Émile', lastName: 'Zola', classId });
    expect(created.entity).toMatchObject({ firstName: 'Émile', tenantId: TENANT, serverVersion: 0 });
    store.applyUploadResponse({
      acknowledged: [
        {
          outboxEventId: created.outboxEventId,
          serverEventId: 's1',
          entityId: created.entity.id,
          serverVersion: 41,
        },
      ],
      conflicts: [],
      rejected: [],
      syncTimestamp: '2024-09-02T08:00:00Z',
    });
    const updated = store.update('STUDENT', created.entity.id, { lastName: 'Zola-Martin' });
    const removed = store.remove('STUDENT', created.entity.id);
    const batch = store.pendingBatch();
    expect(batch.map((e) => [e.operation, e.localVersion])).toEqual([
      ['UPDATE', 41],
      ['DELETE', 41],
    ]);
    expect(batch[0]).toMatchObject({
      id: updated.outboxEventId,
      entityId: created.entity.id,
      tenantId: TENANT,
    });
    expect(batch[0]?.payload).toMatchObject({ firstName: 'Émile', lastName: 'Zola-Martin', classId });
    expect(batch[0]?.payload).not.toHaveProperty('serverVersion');
    expect(batch[1]).toMatchObject({
      id: removed.outboxEventId,
      payload: { id: created.entity.id, tenantId: TENANT },
    });
    expect(store.get('STUDENT', created.entity.id)).toBeUndefined();
    expect(() => store.update('STUDENT', created.entity.id, { firstName: 'X' })).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });

  it('an edit for another tenant, an id change or a duplicate create is refused', () => {
    const store = desk.open();
    expect(() => store.create('TEACHER', { tenantId: uuid(), firstName: 'A', lastName: 'B' })).toThrow(
      expect.objectContaining({ code: 'TENANT_MISMATCH' }),
    );
    const { entity } = store.create('TEACHER', { firstName: 'A', lastName: 'B' });
    expect(() => store.update('TEACHER', entity.id, { id: uuid() })).toThrow(
      expect.objectContaining({ fields: ['id'] }),
    );
    expect(() => store.create('TEACHER', { id: entity.id, firstName: 'A', lastName: 'B' })).toThrow(
      expect.objectContaining({ code: 'ALREADY_EXISTS' }),
    );
    expect(() => store.create('NOPE' as 'TEACHER', { firstName: 'A', lastName: 'B' })).toThrow(
      DeskStoreError,
    );
    expect(store.pendingCount()).toBe(1);
  });

  it('a desk file keeps its data, outbox, cursor and client id across reopen, for one tenant only', () => {
    const first = desk.open();
    const { entity } = first.create('ACADEMIC_YEAR', {
      label: '2024-2025',
      startDate: '2024-09-01',
      endDate: '2025-07-05',
    });
    const clientId = first.clientId;
    first.applyChanges([], 'cursor-7', { syncTimestamp: '2024-09-02T08:00:00Z' });
    first.close();

    const again = desk.open();
    expect(again.clientId).toBe(clientId);
    expect(again.get('ACADEMIC_YEAR', entity.id)?.label).toBe('2024-2025');
    expect(again.pendingBatch()).toHaveLength(1);
    expect(again.syncState()).toMatchObject({
      cursor: 'cursor-7',
      lastSyncTimestamp: '2024-09-02T08:00:00Z',
    });
    again.close();

    expect(() => desk.open(undefined, { tenantId: uuid() })).toThrow(
      expect.objectContaining({ code: 'TENANT_MISMATCH' }),
    );
  });

  it('migrations run once each, in WAL mode, and a newer schema is refused', () => {
    desk.open().close();
    const db = new Database(desk.path());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
    db.close();
    desk.open().close(); // a second open applies nothing and does not fail on existing tables

    const future = new Database(desk.path());
    future.pragma('user_version = 999');
    future.close();
    expect(() => desk.open()).toThrow(expect.objectContaining({ code: 'SCHEMA_TOO_NEW' }));
  });

  it('listeners hear which rows changed, after the commit', () => {
    const store = desk.open();
    const heard: unknown[] = [];
    const stop = store.on('changed', (event) => heard.push({ ...event, pending: store.pendingCount() }));
    const { entity } = store.create('STUDENT', { firstName: 'A', lastName: 'B' });
    expect(heard).toEqual([{ type: 'STUDENT', ids: [entity.id], source: 'local', pending: 1 }]);
    stop();
    store.update('STUDENT', entity.id, { firstName: 'C' });
    expect(heard).toHaveLength(1);
  });
});
