import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTITY_TYPES } from '../shared/entities.ts';
import { pruneEvents } from '../server/ops/retention.ts';
import { waitFor, type TestDatabase } from './support/db.ts';
import { TestDeskClient, type deskDir } from './support/desk-client.ts';
import { startDeskServer, stopDeskServer, type DeskTestServer } from './support/desk-server.ts';

describe('DeskSync against the real server', () => {
  let db: TestDatabase;
  let server: DeskTestServer;
  let tenant: string;
  let dir: ReturnType<typeof deskDir>;
  let a: TestDeskClient;
  let b: TestDeskClient;
  let studentId = '';

  const serverRow = async (id: string) =>
    (await db.pool.query('SELECT first_name, server_version FROM students WHERE id = $1', [id])).rows[0];

  /** A, B and the server hold the same rows: equal checksums for every type. */
  const expectAllEqual = async () => {
    await server.captured();
    await waitFor(
      async () => {
        const s = JSON.stringify(await server.checksums(tenant, ENTITY_TYPES));
        return JSON.stringify(a.store.checksums()) === s && JSON.stringify(b.store.checksums()) === s;
      },
      { timeoutMs: 10_000, message: 'checksums of A, B and the server equal' },
    );
  };

  beforeAll(async () => {
    ({ db, server, tenant, dir } = await startDeskServer());
    const token = await server.token(tenant);
    a = new TestDeskClient(dir.path('a.db'), tenant, server, token);
    b = new TestDeskClient(dir.path('b.db'), tenant, server, token);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await stopDeskServer({ db, server, dir });
  });

  it('an edit made offline on desk A is acknowledged on reconnect and reaches desk B live within a second', async () => {
    b.start();
    await waitFor(() => b.status?.live, { message: 'B live' });
    // A is offline: the edit waits in its outbox.
    const edit = a.store.create('STUDENT', { firstName: 'Awa', lastName: 'Diallo' });
    studentId = edit.entity.id;
    expect(a.store.pendingCount()).toBe(1);

    a.start();
    await waitFor(() => a.store.outboxCounts().ACKNOWLEDGED === 1, { message: 'A acknowledged' });
    const acked = Date.now();
    await waitFor(() => b.store.get('STUDENT', studentId), { timeoutMs: 1_000, intervalMs: 5 });
    expect(Date.now() - acked).toBeLessThan(1_000);
    expect(b.store.get('STUDENT', studentId)?.firstName).toBe('Awa');
    await expectAllEqual();
    await waitFor(() => a.status?.checksum?.matched, { message: "A's own checksum check matched" });
    expect(a.status?.checksum?.resynced).toEqual([]);
  });

  it('both desks edit one student offline: one acknowledged, the other in CONFLICT; KEEP_LOCAL leads all three to the same data', async () => {
    await a.stop();
    await b.stop();
    a.store.update('STUDENT', studentId, { firstName: 'FromA' });
    b.store.update('STUDENT', studentId, { firstName: 'FromB' });
    a.start();
    await waitFor(() => a.store.pendingCount() === 0 && a.store.conflicts().length === 0);
    b.start();
    await waitFor(() => b.store.conflicts().length === 1, { message: 'B in conflict' });
    expect(a.store.outboxCounts().CONFLICT).toBe(0);
    const [conflict] = b.store.conflicts();
    expect(conflict?.server.data?.firstName).toBe('FromA');
    expect(b.store.get('STUDENT', studentId)?.firstName).toBe('FromB');

    b.store.resolveLocally(conflict!.outboxEventId, 'KEEP_LOCAL');
    await waitFor(async () => (await serverRow(studentId))?.first_name === 'FromB', {
      message: 'server took B',
    });
    await waitFor(() => a.store.get('STUDENT', studentId)?.firstName === 'FromB', { message: 'A got B' });
    await waitFor(() => b.store.conflicts().length === 0 && b.store.unsentResolutions().length === 0);
    await expectAllEqual();
  });

  it('the same conflict resolved ACCEPT_SERVER leads all three to the acknowledged data', async () => {
    await a.stop();
    await b.stop();
    a.store.update('STUDENT', studentId, { firstName: 'AgainA' });
    b.store.update('STUDENT', studentId, { firstName: 'AgainB' });
    a.start();
    await waitFor(() => a.store.pendingCount() === 0);
    b.start();
    await waitFor(() => b.store.conflicts().length === 1, { message: 'B in conflict' });
    b.store.resolveLocally(b.store.conflicts()[0]!.outboxEventId, 'ACCEPT_SERVER');
    expect(b.store.get('STUDENT', studentId)?.firstName).toBe('AgainA');
    await waitFor(() => b.store.unsentResolutions().length === 0, {
      message: 'resolution told to the server',
    });
    expect((await serverRow(studentId))?.first_name).toBe('AgainA');
    expect(a.store.get('STUDENT', studentId)?.firstName).toBe('AgainA');
    await expectAllEqual();
  });

  it('with the server down the desk keeps working offline, backs off, and recovers by itself', async () => {
    await server.stop();
    await waitFor(() => a.status?.activity === 'offline', { message: 'A sees it is offline' });
    const before = a.statuses.length;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(a.store.create('STUDENT', { firstName: `Off${i}`, lastName: 'Line' }).entity.id);
    expect(a.store.get('STUDENT', ids[0]!)?.firstName).toBe('Off0');
    await new Promise((r) => setTimeout(r, 3_000));
    expect(a.store.pendingCount()).toBe(5);
    expect(a.status?.lastError?.code).toBe('NETWORK');
    expect(a.status?.lastError?.message).toMatch(/saved on this computer/);
    // Backing off: a handful of failed attempts in 3 s (caps of 1 s), not a busy loop.
    const failures = a.statuses.slice(before).filter((s, i, all) => s.lastError !== all[i - 1]?.lastError);
    expect(failures.length).toBeLessThan(40);

    await server.start();
    await waitFor(() => a.store.pendingCount() === 0, { timeoutMs: 15_000, message: 'A drained' });
    await waitFor(() => ids.every((id) => b.store.get('STUDENT', id) !== undefined), { timeoutMs: 5_000 });
    await waitFor(() => a.status?.live && b.status?.live, { message: 'both live again' });
    await expectAllEqual();
  });

  it('a desk whose cursor the log no longer covers resnapshots and ends equal to the server', async () => {
    await b.stop();
    await db.pool.query(`UPDATE students SET last_name = 'Pruned' WHERE tenant_id = $1`, [tenant]);
    await db.pool.query(`DELETE FROM students WHERE tenant_id = $1 AND first_name = 'Off0'`, [tenant]);
    await server.captured();
    const pruned = await pruneEvents(db.pool, 0, { historyDays: 0 });
    expect(pruned.deleted).toBeGreaterThan(0);
    const seen: string[] = [];
    b.start().onStatus((s) => seen.push(s.activity));
    await waitFor(() => b.status?.live, { message: 'B live after resnapshot', timeoutMs: 15_000 });
    expect(seen).toContain('snapshot');
    expect(b.store.list('STUDENT').every((s) => s.lastName === 'Pruned')).toBe(true);
    expect(b.store.list('STUDENT').some((s) => s.firstName === 'Off0')).toBe(false);
    await expectAllEqual();
  });

  it('a desk that edited one student twice offline meets one conflict, not two; an edit made while it waits joins the decision; KEEP_LOCAL leads all three to its latest', async () => {
    await a.stop();
    await b.stop();
    a.store.update('STUDENT', studentId, { firstName: 'TwiceA' });
    a.store.update('STUDENT', studentId, { lastName: 'TwiceA-2' });
    b.store.update('STUDENT', studentId, { firstName: 'OnceB' });
    b.start();
    await waitFor(() => b.store.pendingCount() === 0, { message: 'B acknowledged' });
    a.start();
    await waitFor(() => a.store.conflicts().length === 1, { message: 'A in conflict' });
    expect(a.store.conflicts()[0]).toMatchObject({ edits: 2, server: { data: { firstName: 'OnceB' } } });
    a.store.update('STUDENT', studentId, { notes: 'While deciding' });
    // Held behind the decision: not sent, so no second conflict; the status says it waits for her.
    expect(a.store.pendingBatch()).toEqual([]);
    await waitFor(() => a.status?.held === 1 && a.status.pending === 1, { message: 'A shows one held edit' });
    expect(a.store.conflicts()).toHaveLength(1);

    a.store.resolveLocally(a.store.conflicts()[0]!.outboxEventId, 'KEEP_LOCAL');
    await waitFor(() => a.store.pendingCount() === 0 && a.store.unsentResolutions().length === 0, {
      message: 'A drained',
    });
    const row = await db.pool.query('SELECT first_name, last_name, notes FROM students WHERE id = $1', [
      studentId,
    ]);
    expect(row.rows[0]).toEqual({ first_name: 'TwiceA', last_name: 'TwiceA-2', notes: 'While deciding' });
    expect(a.store.conflicts()).toEqual([]);
    expect(a.store.outboxCounts().CONFLICT).toBe(0);
    await waitFor(() => b.store.get('STUDENT', studentId)?.notes === 'While deciding', {
      message: 'B got A',
    });
    await expectAllEqual();
  });

  it('a new desk downloading the school sees its progress as N of M, M being the rows the server holds', async () => {
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name)
       SELECT $1, gen_random_uuid(), 'Pupil ' || g, 'Many' FROM generate_series(1, 3000) g`,
      [tenant],
    );
    await server.captured();
    const held = Object.values(await server.checksums(tenant, ENTITY_TYPES)).reduce(
      (sum, figures) => sum + (figures?.count ?? 0),
      0,
    );
    const c = new TestDeskClient(dir.path('c.db'), tenant, server, await server.token(tenant));
    try {
      const snapshots: { done: number; total: number | null }[] = [];
      c.start({ snapshotLimit: 100 }).onStatus((status) => {
        if (status.progress?.kind === 'snapshot') snapshots.push({ ...status.progress });
      });
      await waitFor(() => c.status?.live, { message: 'C live', timeoutMs: 20_000 });
      expect(snapshots.at(-1)?.done).toBe(held);
      // The count arrives beside the first pages; from then on every figure reads "N of M".
      const counted = snapshots.filter((p) => p.total !== null);
      expect(counted.length).toBeGreaterThan(0);
      expect(counted.every((p) => p.total === held && p.done <= held)).toBe(true);
      expect(c.status?.progress).toBeNull();
    } finally {
      await c.close();
    }
  });
});
