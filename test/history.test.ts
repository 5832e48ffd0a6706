import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  historyResponseSchema,
  type HistoryEntry,
  type OutboxEvent,
  type SyncUpResponse,
} from '../shared/protocol.ts';
import { signToken } from '../server/auth/tokens.ts';
import { readHistory } from '../server/history/read.ts';
import type { RunningServer } from '../server/server.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, seedExam, startFullServer, TEST_JWT_SECRET } from './support/http.ts';
import { deskTokenArgs, runSyncAdmin, type ProcessRun } from './support/run-process.ts';

interface Answer {
  status: number;
  body: unknown;
}

/**
 * Record history through the whole server: uploads, plain SQL and conflict resolutions become entries
 * (who, when, from where, what changed), served newest first by POST /api/sync/history and printed by
 * `sync-admin history`, kept when the change log is pruned, and never shown to another tenant.
 */
describe('record history', () => {
  let db: TestDatabase;
  let server: RunningServer;
  let tenant: string;
  let otherTenant: string;
  let secretary: string;
  let teacher: string;
  let stranger: string;
  let exam: string;
  let student: string;
  let dataDir: string;

  const post = async (path: string, body: unknown, token: string, headers = {}): Promise<Answer> => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  const up = async (token: string, clientId: string, events: OutboxEvent[]): Promise<SyncUpResponse> => {
    const answer = await post('/api/sync/up', { clientId, events }, token);
    expect(answer.status).toBe(200);
    return answer.body as SyncUpResponse;
  };
  const gradeEvent = (overrides: Partial<OutboxEvent>, score?: number): OutboxEvent => ({
    id: randomUUID(),
    tenantId: tenant,
    entityType: 'GRADE',
    entityId: randomUUID(),
    operation: 'CREATE',
    localVersion: 0,
    createdAt: new Date().toISOString(),
    attemptCount: 0,
    payload: score === undefined ? {} : { examId: exam, studentId: student, score },
    ...overrides,
  });
  const history = async (id: string, token = secretary, extra: Record<string, unknown> = {}) => {
    const answer = await post('/api/sync/history', { entityType: 'GRADE', entityId: id, ...extra }, token);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return historyResponseSchema.parse(answer.body);
  };
  const entriesOf = async (id: string, count: number): Promise<HistoryEntry[]> => {
    await waitFor(async () => (await history(id)).entries.length === count, {
      timeoutMs: 15_000,
      message: `capture writes ${count} history entries`,
    });
    return (await history(id)).entries;
  };
  const versionOf = (answer: SyncUpResponse): number => Number(answer.acknowledged[0]?.serverVersion);
  const admin = (args: string[]): Promise<ProcessRun> =>
    runSyncAdmin(args, {
      cwd: dataDir,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        SYNC_DATA_DIR: dataDir,
        DATABASE_URL: db.url,
        SYNC_JWT_SECRET: TEST_JWT_SECRET,
      },
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startFullServer(db);
    dataDir = mkdtempSync(join(tmpdir(), 'history-'));
    tenant = await createTenant(db.pool, 'École Jean Jaurès');
    otherTenant = await createTenant(db.pool, 'Another school');
    secretary = await signToken(TEST_JWT_SECRET, { sub: 'm.diallo', tenantId: tenant, role: 'desk' }, 3600);
    teacher = await signToken(TEST_JWT_SECRET, { sub: 'a.sow', tenantId: tenant, role: 'desk' }, 3600);
    stranger = await signToken(TEST_JWT_SECRET, { sub: 'x', tenantId: otherTenant, role: 'admin' }, 3600);
    const seeded = await seedExam(db.pool, tenant, { yearLabel: '2026-2027', examDate: '2026-11-20' });
    [exam, student] = [seeded.examId, randomUUID()];
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, class_id) VALUES ($1, $2, 'Awa', 'Ba', $3)`,
      [tenant, student, seeded.classId],
    );
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  let grade: string;
  let four: HistoryEntry[];

  it('an upload, a plain-SQL UPDATE, a conflict resolved KEEP_LOCAL and a DELETE of one grade give four entries with their origins and field changes, newest first', async () => {
    const create = gradeEvent({ createdAt: '2026-11-28T10:00:00.000Z' }, 12);
    grade = create.entityId;
    const v1 = versionOf(await up(secretary, 'Secretariat-2', [create]));
    await db.pool.query('UPDATE grades SET score = 13 WHERE tenant_id = $1 AND id = $2', [tenant, grade]);
    const v2 = Number(
      (await db.pool.query('SELECT server_version FROM grades WHERE id = $1', [grade])).rows[0]
        .server_version,
    );
    // The teacher edited offline on the version she had (v1): a conflict, and she keeps her version.
    const stale = gradeEvent(
      { entityId: grade, operation: 'UPDATE', localVersion: v1, createdAt: '2026-11-28T16:30:00.000Z' },
      14,
    );
    const met = await up(teacher, 'Salle-des-profs', [stale]);
    expect(met.conflicts).toHaveLength(1);
    const resolved = await post(
      `/api/sync/conflicts/${stale.id}/resolve`,
      { choice: 'KEEP_LOCAL', payload: stale.payload, serverVersion: v2 },
      teacher,
      { 'x-client-id': 'Salle-des-profs' },
    );
    expect(resolved.status).toBe(200);
    const v3 = versionOf(resolved.body as SyncUpResponse);
    const remove = gradeEvent({ entityId: grade, operation: 'DELETE', localVersion: v3 });
    const v4 = versionOf(await up(secretary, 'Secretariat-2', [remove]));

    four = await entriesOf(grade, 4);
    expect(four.map((e) => [Number(e.serverVersion), e.operation])).toEqual([
      [v4, 'DELETE'],
      [v3, 'UPDATE'],
      [v2, 'UPDATE'],
      [v1, 'CREATE'],
    ]);
    const [deleted, kept, bySql, created] = four;
    expect(created).toMatchObject({
      editedAt: '2026-11-28T10:00:00.000Z',
      origin: { kind: 'DESK', userId: 'm.diallo', clientId: 'Secretariat-2', outboxEventId: create.id },
      changes: {
        score: { from: null, to: 12 },
        examId: { from: null, to: exam },
        studentId: { from: null, to: student },
      },
    });
    expect(Object.keys(created!.changes).sort()).toEqual(['examId', 'score', 'studentId']);
    expect(created!.decision).toBeUndefined();
    expect(bySql).toEqual({
      serverVersion: v2,
      operation: 'UPDATE',
      committedAt: expect.any(String),
      origin: { kind: 'SERVER' },
      changes: { score: { from: 12, to: 13 } },
    });
    expect(kept).toMatchObject({
      decision: 'KEEP_LOCAL',
      // When she made the edit, not when she resolved the conflict.
      editedAt: '2026-11-28T16:30:00.000Z',
      origin: { kind: 'DESK', userId: 'a.sow', clientId: 'Salle-des-profs', outboxEventId: stale.id },
      changes: { score: { from: 13, to: 14 } },
    });
    expect(deleted).toMatchObject({
      origin: { kind: 'DESK', userId: 'm.diallo', outboxEventId: remove.id },
      changes: { score: { from: 14, to: null }, examId: { from: exam, to: null } },
    });
    expect(Date.parse(created!.committedAt)).toBeLessThanOrEqual(Date.parse(deleted!.committedAt));
  });

  it('pages newest first with before, limit capped at 500', async () => {
    const pages: HistoryEntry[][] = [];
    let before: string | undefined;
    do {
      const page = await history(
        grade,
        secretary,
        before === undefined ? { limit: 1 } : { limit: 1, before },
      );
      pages.push(page.entries);
      before = page.before;
    } while (before !== undefined);
    expect(pages.map((p) => p.length)).toEqual([1, 1, 1, 1]);
    expect(pages.flat()).toEqual(four);
    expect((await history(grade, secretary, { limit: 100_000 })).entries).toEqual(four);
    // Not a position the server gave, including ones past what a bigint or a timestamp holds.
    for (const before of [
      'x',
      'h9999999999999999999.1',
      'h1.9223372036854775807',
      'h1.9999999999999999999',
    ]) {
      const bad = await post(
        '/api/sync/history',
        { entityType: 'GRADE', entityId: grade, before },
        secretary,
      );
      expect(bad.status, before).toBe(400);
      expect((bad.body as { code: string }).code).toBe('BAD_REQUEST');
    }
    const zero = await post(
      '/api/sync/history',
      { entityType: 'GRADE', entityId: grade, limit: 0 },
      secretary,
    );
    expect(zero.status).toBe(400);
  });

  it('a conflict resolved ACCEPT_SERVER adds an entry that says the server version was kept', async () => {
    const create = gradeEvent({}, 9);
    const v1 = versionOf(await up(secretary, 'Secretariat-2', [create]));
    await db.pool.query('UPDATE grades SET score = 10 WHERE id = $1', [create.entityId]);
    const stale = gradeEvent({ entityId: create.entityId, operation: 'UPDATE', localVersion: v1 }, 11);
    expect((await up(teacher, 'Salle-des-profs', [stale])).conflicts).toHaveLength(1);
    const serverEdit = (await entriesOf(create.entityId, 2))[0]!;
    const accepted = await post(
      `/api/sync/conflicts/${stale.id}/resolve`,
      { choice: 'ACCEPT_SERVER', serverVersion: serverEdit.serverVersion },
      teacher,
      { 'x-client-id': 'Salle-des-profs' },
    );
    expect(accepted.status).toBe(200);
    const [newest, ...rest] = (await history(create.entityId)).entries;
    expect(rest[0]).toEqual(serverEdit);
    expect(newest).toMatchObject({
      serverVersion: Number(serverEdit.serverVersion),
      decision: 'ACCEPT_SERVER',
      origin: { kind: 'DESK', userId: 'a.sow', clientId: 'Salle-des-profs', outboxEventId: stale.id },
      changes: {},
    });
  });

  it("another tenant's grade is 404 UNKNOWN_ENTITY, exactly like one that never existed", async () => {
    const theirs = await post('/api/sync/history', { entityType: 'GRADE', entityId: grade }, stranger);
    const missing = randomUUID();
    const nobody = await post('/api/sync/history', { entityType: 'GRADE', entityId: missing }, stranger);
    expect(theirs.status).toBe(404);
    expect(nobody.status).toBe(404);
    expect(theirs.body).toMatchObject({ statusCode: 404, code: 'UNKNOWN_ENTITY' });
    const anonymous = (body: unknown, id: string): unknown =>
      JSON.parse(JSON.stringify(body).replaceAll(id, 'ID'));
    expect(anonymous(theirs.body, grade)).toEqual(anonymous(nobody.body, missing));
    const dba = await signToken(TEST_JWT_SECRET, { sub: 'd', tenantId: tenant, role: 'dba' }, 3600);
    expect((await post('/api/sync/history', { entityType: 'GRADE', entityId: grade }, dba)).status).toBe(403);
  });

  it('a record whose history is gone (past retention) has an empty history, not a 404', async () => {
    const create = gradeEvent({}, 15);
    await up(secretary, 'Secretariat-2', [create]);
    await entriesOf(create.entityId, 1);
    // Gone from both places history is kept: the change log's rows and sync_history.
    await db.pool.query('UPDATE sync_events SET changes = NULL WHERE entity_id = $1', [create.entityId]);
    await db.pool.query('DELETE FROM sync_history WHERE entity_id = $1', [create.entityId]);
    expect(await history(create.entityId)).toEqual({ entries: [] });
  });

  it('a field hidden after its changes were stored is left out when they are read', async () => {
    const teacherId = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name, email) VALUES ($1, $2, 'Ada', 'Ba', 'a@b.c')`,
      [tenant, teacherId],
    );
    await waitFor(async () => {
      const found = await db.pool.query('SELECT 1 FROM sync_record_history WHERE entity_id = $1', [
        teacherId,
      ]);
      return found.rowCount === 1;
    });
    const read = (hidden: string[]) =>
      readHistory(db.pool, { tenantId: tenant, entityType: 'TEACHER', entityId: teacherId, hidden });
    expect((await read([])).entries[0]?.changes).toMatchObject({ email: { from: null, to: 'a@b.c' } });
    expect((await read(['email'])).entries[0]?.changes).toEqual({
      firstName: { from: null, to: 'Ada' },
      lastName: { from: null, to: 'Ba' },
    });
  });

  it('history survives sync-admin prune --older-than 0d of the change log, and sync-admin history prints it', async () => {
    const pruned = await admin(['prune', '--older-than', '0d']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/sync_history: deleted 0 entries before/);
    expect(pruned.stdout).toMatch(/their [1-9]\d* history entries kept in sync_history/);
    const left = await db.pool.query('SELECT count(*)::int AS n FROM sync_events WHERE entity_id = $1', [
      grade,
    ]);
    expect(left.rows[0].n).toBe(0);
    expect((await history(grade)).entries).toEqual(four);

    const table = await admin(['history', 'GRADE', grade]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^WHEN\s+VERSION\s+OPERATION\s+WHO\s+FROM WHERE\s+WHAT CHANGED$/);
    expect(lines).toHaveLength(5);
    expect(lines[2]).toMatch(
      /a\.sow\s+desk Salle-des-profs, edited 2026-11-28T16:30:00.000Z\s+kept the desk/,
    );
    expect(lines[3]).toMatch(/server\s+server \(web app, script, psql\)\s+score 12 → 13$/);
    expect(lines[4]).toContain('m.diallo');
    const json = await admin(['history', 'grade', grade, '--tenant', tenant, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(four);
    const unknown = await admin(['history', 'GRADE', randomUUID()]);
    expect(unknown.code).toBe(1);
    expect((await admin(['history', 'GRADE'])).code).toBe(2);
  });

  it('sync-admin history names a desk as its registered desk token does, beside its client id', async () => {
    const signed = await admin(deskTokenArgs(tenant, 'Front office', 'alice', '--sub', 'k.traore'));
    expect(signed.code, signed.stderr).toBe(0);
    const frontOffice = signed.stdout.trim();
    const clientId = randomUUID();
    const create = gradeEvent({}, 9);
    expect(versionOf(await up(frontOffice, clientId, [create]))).toBeGreaterThan(0);
    await entriesOf(create.entityId, 1);
    const table = await admin(['history', 'GRADE', create.entityId]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(`desk Front office (client ${clientId}), edited ${create.createdAt}`);
    // The JSON stays the endpoint's answer: the client id only.
    const json = await admin(['history', 'GRADE', create.entityId, '--json']);
    expect(JSON.parse(json.stdout)[0].origin).toEqual({
      kind: 'DESK',
      userId: 'k.traore',
      clientId,
      outboxEventId: create.id,
    });
  });
});
