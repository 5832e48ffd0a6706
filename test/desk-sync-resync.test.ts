import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntityChecksum } from '../shared/checksum.ts';
import { ENTITY_TYPES, type EntityType } from '../shared/entities.ts';
import { waitFor, type TestDatabase } from './support/db.ts';
import { FAST_SYNC, TestDeskClient, type deskDir } from './support/desk-client.ts';
import { startDeskServer, stopDeskServer, type DeskTestServer } from './support/desk-server.ts';
import { startProxy, type TestProxy } from './support/http-proxy.ts';

describe('checksum check: a type that differs is downloaded again, and only that type', () => {
  let db: TestDatabase;
  let server: DeskTestServer;
  let proxy: TestProxy;
  let tenant: string;
  let dir: ReturnType<typeof deskDir>;
  let desk: TestDeskClient;
  const students: string[] = [];
  const teachers: string[] = [];
  /** Types of the rows the server's changes wrote on the desk since the last clear. */
  const written = new Set<EntityType>();

  const serverChecksums = () => server.checksums(tenant, ENTITY_TYPES);
  /** Figures of every type but `type`. */
  const without = (figures: Partial<Record<EntityType, EntityChecksum>>, type: EntityType) =>
    Object.fromEntries(Object.entries(figures).filter(([key]) => key !== type));
  /** Changes the desk's SQLite file behind the store's back, the way a disk fault or a bug would. */
  const tamper = (fn: (sqlite: Database.Database) => void) => {
    const sqlite = new Database(desk.path);
    try {
      fn(sqlite);
    } finally {
      sqlite.close();
    }
  };
  const snapshotsAsked = () =>
    proxy.seen
      .filter((s) => s.path === '/api/sync/snapshot')
      .map((s) => (s.body?.entityTypes as EntityType[] | undefined) ?? 'ALL');
  /** Forgets what was seen and restarts the desk's sync: it catches up, then runs the check. */
  const restart = async () => {
    await desk.stop();
    proxy.seen.length = 0;
    written.clear();
    statusesBefore = desk.statuses.length;
    return desk.start();
  };
  let statusesBefore = 0;
  /** Errors the desk reported since the last restart. */
  const errorsSinceRestart = () =>
    desk.statuses.slice(statusesBefore).flatMap((s) => (s.lastError === null ? [] : [s.lastError.code]));

  beforeAll(async () => {
    ({ db, server, tenant, dir } = await startDeskServer());
    proxy = await startProxy(server.url);
    for (let i = 0; i < 5; i++) students.push(randomUUID());
    for (let i = 0; i < 3; i++) teachers.push(randomUUID());
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, server_version)
       SELECT $1, id, 'Student', 'N' || n, 0 FROM unnest($2::uuid[]) WITH ORDINALITY AS s(id, n)`,
      [tenant, students],
    );
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name, server_version)
       SELECT $1, id, 'Teacher', 'N' || n, 0 FROM unnest($2::uuid[]) WITH ORDINALITY AS t(id, n)`,
      [tenant, teachers],
    );
    await db.pool.query(
      `INSERT INTO school_levels (tenant_id, id, name, rank, server_version)
       VALUES ($1, gen_random_uuid(), 'Primary', 1, 0), ($1, gen_random_uuid(), 'Secondary', 2, 0)`,
      [tenant],
    );
    await server.captured();
    // Polling rather than the socket: every request goes through the proxy, which notes it.
    desk = new TestDeskClient(dir.path('desk.db'), tenant, proxy, await server.token(tenant), {
      ...FAST_SYNC,
      socket: false,
    });
    desk.store.on('changed', ({ type, source }) => {
      if (source === 'server') written.add(type);
    });
  });
  afterAll(async () => {
    await desk?.close();
    await proxy?.close();
    await stopDeskServer({ db, server, dir });
  });

  it('STUDENT rows changed behind the store are found by the check, STUDENT alone is downloaded again, and the desk ends equal to the server for every type', async () => {
    desk.start();
    await waitFor(() => desk.status?.checksum, { message: 'first check' });
    expect(desk.status?.checksum).toMatchObject({ matched: true, resynced: [] });
    expect(desk.store.checksums()).toEqual(await serverChecksums());
    expect(desk.store.count('STUDENT')).toBe(5);

    await desk.stop();
    const stray = randomUUID();
    tamper((sqlite) => {
      sqlite.prepare(`DELETE FROM entities WHERE entity_type = 'STUDENT' AND id = ?`).run(students[0]);
      sqlite
        .prepare(
          `UPDATE entities SET server_version = server_version + 1000 WHERE entity_type = 'STUDENT' AND id = ?`,
        )
        .run(students[1]);
      sqlite
        .prepare(
          `INSERT INTO entities (entity_type, id, tenant_id, server_version, doc) VALUES ('STUDENT', ?, ?, 1, ?)`,
        )
        .run(stray, tenant, JSON.stringify({ id: stray, firstName: 'Stray', lastName: 'Row' }));
    });
    const server0 = await serverChecksums();
    expect(desk.store.checksums().STUDENT).not.toEqual(server0.STUDENT);
    expect(without(desk.store.checksums(), 'STUDENT')).toEqual(without(server0, 'STUDENT'));

    await restart();
    await waitFor(() => desk.status?.checksum, { timeoutMs: 15_000, message: 'check after the restart' });
    expect(desk.status?.checksum).toMatchObject({ matched: true, resynced: ['STUDENT'] });
    expect(errorsSinceRestart()).toEqual([]);
    expect(snapshotsAsked()).not.toHaveLength(0);
    expect(snapshotsAsked().every((types) => JSON.stringify(types) === '["STUDENT"]')).toBe(true);
    expect([...written]).toEqual(['STUDENT']);
    expect(desk.store.checksums()).toEqual(await serverChecksums());
    expect(desk.store.get('STUDENT', students[0]!)?.lastName).toBe('N1');
    expect(desk.store.get('STUDENT', stray)).toBeUndefined();
    expect(desk.store.count('STUDENT')).toBe(5);
  });

  it('a TEACHER conflict with an edit held behind it does not stop the check: TEACHER is left out, STUDENT is compared and resynced, the edits stay as they were', async () => {
    const teacher = teachers[0]!;
    await desk.stop();
    desk.store.update('TEACHER', teacher, { firstName: 'FromDesk' });
    await db.pool.query(`UPDATE teachers SET first_name = 'FromServer' WHERE tenant_id = $1 AND id = $2`, [
      tenant,
      teacher,
    ]);
    await server.captured();
    desk.start();
    // The check comes after the catch-up: the server's teacher change has reached the desk (and is held).
    await waitFor(() => desk.store.conflicts().length === 1 && desk.status?.checksum, {
      message: 'teacher edit in conflict, desk caught up',
    });
    // Made while the conflict waits for the user: held, not sent.
    desk.store.update('TEACHER', teacher, { lastName: 'Held' });
    await desk.stop();
    const outboxBefore = desk.store.outboxCounts();
    expect(outboxBefore).toMatchObject({ CONFLICT: 1, PENDING: 1, SENT: 0 });
    const conflictsBefore = desk.store.conflicts();
    const teacherBefore = desk.store.get('TEACHER', teacher);
    expect(teacherBefore).toMatchObject({ firstName: 'FromDesk', lastName: 'Held' });

    tamper((sqlite) => {
      sqlite.prepare(`DELETE FROM entities WHERE entity_type = 'STUDENT' AND id = ?`).run(students[2]);
    });
    const server0 = await serverChecksums();
    // Both types differ; only STUDENT's difference is a fault, TEACHER's is the open conflict.
    expect(desk.store.checksums().STUDENT).not.toEqual(server0.STUDENT);
    expect(desk.store.checksums().TEACHER).not.toEqual(server0.TEACHER);

    await restart();
    const check = await waitFor(() => desk.status?.checksum, {
      timeoutMs: 15_000,
      message: 'check despite the open conflict',
    });
    expect(check).toMatchObject({ matched: true, resynced: ['STUDENT'] });
    expect(errorsSinceRestart()).toEqual([]);
    expect(snapshotsAsked()).not.toHaveLength(0);
    expect(snapshotsAsked().every((types) => JSON.stringify(types) === '["STUDENT"]')).toBe(true);
    expect([...written]).toEqual(['STUDENT']);
    expect(desk.store.get('STUDENT', students[2]!)?.lastName).toBe('N3');
    expect(desk.store.outboxCounts()).toEqual(outboxBefore);
    expect(desk.store.conflicts()).toEqual(conflictsBefore);
    expect(desk.store.get('TEACHER', teacher)).toEqual(teacherBefore);
    const server1 = await serverChecksums();
    expect(without(desk.store.checksums(), 'TEACHER')).toEqual(without(server1, 'TEACHER'));
    expect(desk.store.checksums().TEACHER).not.toEqual(server1.TEACHER);

    // Once the user decides and the server has her edits, the next check compares TEACHER too.
    desk.store.resolveLocally(conflictsBefore[0]!.outboxEventId, 'KEEP_LOCAL');
    await waitFor(() => desk.store.conflicts().length === 0 && desk.store.pendingCount() === 0, {
      message: 'decision and held edit sent',
    });
    const after = await waitFor(() => (desk.status?.checksum !== check ? desk.status?.checksum : null), {
      message: 'check after the decision',
    });
    expect(after).toMatchObject({ matched: true, resynced: [] });
    const row = await db.pool.query(
      'SELECT first_name, last_name FROM teachers WHERE tenant_id = $1 AND id = $2',
      [tenant, teacher],
    );
    expect(row.rows[0]).toEqual({ first_name: 'FromDesk', last_name: 'Held' });
    await server.captured();
    expect(desk.store.checksums()).toEqual(await serverChecksums());
  });
});
