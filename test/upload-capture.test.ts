import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxEvent, SyncUpResponse } from '../shared/protocol.ts';
import { signToken } from '../server/auth/tokens.ts';
import type { RunningServer } from '../server/server.ts';
import { events as logRows, type EventRow } from './support/capture-env.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, startFullServer, TEST_JWT_SECRET } from './support/http.ts';

type Body = Record<string, unknown>;

/**
 * Uploads with capture running, as `npm start` wires it: what an upload writes reaches `sync_events` once,
 * stamped with the desk and outbox event it came from, however often the batch is sent; and one event that
 * fails inside the database (the per-event savepoint path) leaves the rest of its batch applied.
 */
describe('uploads through real capture', () => {
  let db: TestDatabase;
  let server: RunningServer;
  let tenant: string;
  let markerTenant: string;
  let token: string;

  const up = async (
    events: OutboxEvent[],
    clientId: string,
  ): Promise<{ status: number; body: SyncUpResponse }> => {
    const response = await fetch(`${server.url}/api/sync/up`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ clientId, events }),
    });
    return { status: response.status, body: (await response.json()) as SyncUpResponse };
  };
  const event = (
    overrides: Partial<OutboxEvent> & Pick<OutboxEvent, 'entityType'>,
    payload: Body = {},
  ): OutboxEvent => ({
    id: randomUUID(),
    tenantId: tenant,
    entityId: randomUUID(),
    operation: 'CREATE',
    localVersion: 0,
    createdAt: new Date().toISOString(),
    attemptCount: 0,
    ...overrides,
    payload,
  });
  const student = (payload: Body = {}) =>
    event({ entityType: 'STUDENT' }, { firstName: 'Awa', lastName: 'Diallo', ...payload });
  const teacher = (payload: Body = {}) =>
    event({ entityType: 'TEACHER' }, { firstName: 'Moussa', lastName: 'Kane', ...payload });
  const edit = (of: OutboxEvent, localVersion: number, payload: Body) =>
    event({ entityType: of.entityType, entityId: of.entityId, operation: 'UPDATE', localVersion }, payload);
  const remove = (of: OutboxEvent, localVersion: number) =>
    event({ entityType: of.entityType, entityId: of.entityId, operation: 'DELETE', localVersion });
  /** Uploads `events` and expects every one acknowledged; returns each entity's serverVersion. */
  const seed = async (events: OutboxEvent[]): Promise<Map<string, number>> => {
    const { status, body } = await up(events, 'desk-seed');
    expect(status).toBe(200);
    expect(body.acknowledged.map((a) => a.outboxEventId)).toEqual(events.map((e) => e.id));
    return new Map(body.acknowledged.map((a) => [a.entityId, Number(a.serverVersion)]));
  };
  const versionOf = (versions: Map<string, number>, of: OutboxEvent): number => {
    const version = versions.get(of.entityId);
    if (version === undefined) throw new Error(`no version for ${of.entityId}`);
    return version;
  };

  /** The sync_log row of the /up of `clientId`, once it is written. */
  const upLog = (clientId: string): Promise<Body> =>
    waitFor(async () => {
      const r = await db.pool.query(
        `SELECT status, events_count, conflicts_count, rejected_count FROM sync_log
          WHERE direction = 'UP' AND client_id = $1`,
        [clientId],
      );
      return r.rows[0] as Body | undefined;
    });

  /** Seeds an academic year, a school level, a class of them and an exam of that class. */
  const seedClassWithExam = async (): Promise<{ klass: OutboxEvent; exam: OutboxEvent }> => {
    const year = event(
      { entityType: 'ACADEMIC_YEAR' },
      { label: '2026-2027', startDate: '2026-09-01', endDate: '2027-07-01' },
    );
    const level = event({ entityType: 'SCHOOL_LEVEL' }, { name: 'CM2', rank: 5 });
    const klass = event(
      { entityType: 'CLASS' },
      { name: 'CM2 A', schoolLevelId: level.entityId, academicYearId: year.entityId },
    );
    const exam = event(
      { entityType: 'EXAM' },
      { classId: klass.entityId, subject: 'Maths', date: '2026-10-10', maxScore: 20 },
    );
    await seed([year, level, klass, exam]);
    return { klass, exam };
  };

  /**
   * Capture stores transactions in commit order, so once a row committed now is in sync_events, every
   * earlier commit is too: after this, a missing or extra row is a real one, not a late one.
   */
  const captureCaughtUp = async (): Promise<void> => {
    const marker = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'Marker', 'Row')`,
      [markerTenant, marker],
    );
    await waitFor(async () => (await logRows(db, 'entity_id = $1', [marker])).length === 1, {
      timeoutMs: 15_000,
      message: 'capture stores the marker row',
    });
  };
  const rowsOf = (entityIds: string[]): Promise<EventRow[]> =>
    logRows(db, 'tenant_id = $1 AND entity_id = ANY($2::uuid[])', [tenant, entityIds]);

  /**
   * The invariant both duplicate tests check once capture has caught up: each event of `batch` made exactly
   * one row change (the log holds `seeded` rows of the seed plus one per event, nothing else), stamped with
   * `clientId` and its outbox event id, at the serverVersion the desk was answered with.
   */
  const expectLoggedOnce = async (
    batch: OutboxEvent[],
    answer: SyncUpResponse,
    clientId: string,
    seeded: number,
  ): Promise<void> => {
    const entityIds = [...new Set(batch.map((e) => e.entityId))];
    const rows = await rowsOf(entityIds);
    expect(rows).toHaveLength(seeded + batch.length);
    // One set-based statement per table and kind: the log follows statement order, not request order.
    const byOrigin = new Map(rows.map((r) => [r.origin_outbox_event_id, r]));
    for (const [i, e] of batch.entries()) {
      expect(byOrigin.get(e.id), `sync_events row of event ${i}`).toMatchObject({
        origin_client_id: clientId,
        entity_type: e.entityType,
        entity_id: e.entityId,
        operation: e.operation,
        server_version: Number(answer.acknowledged[i]?.serverVersion),
      });
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startFullServer(db);
    tenant = await createTenant(db.pool, 'School');
    markerTenant = await createTenant(db.pool, 'Marker school');
    token = await signToken(TEST_JWT_SECRET, { sub: 'secretary', tenantId: tenant, role: 'desk' }, 3600);
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('the same batch sent twice in sequence gets the same answer, and each event is one row change and one sync_events row with its origin', async () => {
    const s0 = student();
    const t0 = teacher();
    const versions = await seed([s0, t0]);
    const s1 = student({ firstName: 'Fatou' });
    const t1 = teacher({ email: 'awa@school.example' });
    const batch = [
      s1,
      t1,
      edit(s0, versionOf(versions, s0), { lastName: 'Sow' }),
      edit(t0, versionOf(versions, t0), { lastName: 'Ba' }),
      // Based on s1's CREATE in this same batch.
      edit(s1, 0, { lastName: 'Ndiaye' }),
    ];

    const first = await up(batch, 'desk-a');
    const second = await up(batch, 'desk-a');
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.body.conflicts).toEqual([]);
    expect(first.body.rejected).toEqual([]);
    expect(first.body.acknowledged.map((a) => a.outboxEventId)).toEqual(batch.map((e) => e.id));
    expect(second.body).toEqual({ ...first.body, syncTimestamp: expect.any(String) });

    await captureCaughtUp();
    await expectLoggedOnce(batch, first.body, 'desk-a', 2);
    const acked = new Map(first.body.acknowledged.map((a) => [a.outboxEventId, Number(a.serverVersion)]));
    const students = await db.pool.query(
      'SELECT id, first_name, last_name, server_version FROM students WHERE id = ANY($1::uuid[]) ORDER BY id',
      [[s0.entityId, s1.entityId]],
    );
    expect(students.rows).toEqual(
      [
        { id: s0.entityId, first_name: 'Awa', last_name: 'Sow', server_version: acked.get(batch[2]!.id) },
        {
          id: s1.entityId,
          first_name: 'Fatou',
          last_name: 'Ndiaye',
          server_version: acked.get(batch[4]!.id),
        },
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );
    const teachers = await db.pool.query(
      'SELECT id, last_name, email, server_version FROM teachers WHERE id = ANY($1::uuid[]) ORDER BY id',
      [[t0.entityId, t1.entityId]],
    );
    expect(teachers.rows).toEqual(
      [
        { id: t0.entityId, last_name: 'Ba', email: null, server_version: acked.get(batch[3]!.id) },
        {
          id: t1.entityId,
          last_name: 'Kane',
          email: 'awa@school.example',
          server_version: acked.get(t1.id),
        },
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );
    const audit = await db.pool.query<{ outbox_event_id: string; n: number }>(
      `SELECT outbox_event_id, count(*)::int AS n FROM sync_audit WHERE outbox_event_id = ANY($1)
        GROUP BY outbox_event_id`,
      [batch.map((e) => e.id)],
    );
    expect(audit.rows.map((r) => r.n)).toEqual(batch.map(() => 1));
  });

  it('two identical batches sent in parallel, round after round: one answer for both, one row change and one sync_events row per event', async () => {
    const rounds: { batch: OutboxEvent[]; answer: SyncUpResponse }[] = [];
    for (let round = 0; round < 6; round++) {
      const s0 = student();
      const t0 = teacher();
      const versions = await seed([s0, t0]);
      const s1 = student({ firstName: `Round ${round}` });
      const t1 = teacher();
      const batch = [
        s1,
        edit(s0, versionOf(versions, s0), { lastName: `S${round}` }),
        t1,
        edit(t0, versionOf(versions, t0), { lastName: `T${round}` }),
        edit(t1, 0, { email: `t${round}@school.example` }),
      ];
      const [a, b] = await Promise.all([up(batch, 'desk-p'), up(batch, 'desk-p')]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.body.acknowledged.map((x) => x.outboxEventId)).toEqual(batch.map((e) => e.id));
      expect(b.body).toEqual({ ...a.body, syncTimestamp: expect.any(String) });
      rounds.push({ batch, answer: a.body });
    }

    await captureCaughtUp();
    for (const { batch, answer } of rounds) {
      await expectLoggedOnce(batch, answer, 'desk-p', 2);
      const last = answer.acknowledged.at(-1)!;
      const row = await db.pool.query('SELECT email, server_version FROM teachers WHERE id = $1', [
        last.entityId,
      ]);
      expect(row.rows).toEqual([
        { email: expect.stringMatching(/^t\d@school\.example$/), server_version: Number(last.serverVersion) },
      ]);
    }
  });

  it('an event that fails inside the database (DELETE of a STUDENT that still has GRADEs) is rejected on its own; the events before and after it are applied, logged and audited', async () => {
    const { klass, exam } = await seedClassWithExam();
    const graded = student({ classId: klass.entityId });
    const other = student({ classId: klass.entityId });
    const leaving = student({ classId: klass.entityId });
    const grade = event(
      { entityType: 'GRADE' },
      { examId: exam.entityId, studentId: graded.entityId, score: 14 },
    );
    const versions = await seed([graded, other, leaving, grade]);

    const newcomer = student({ firstName: 'Binta', classId: klass.entityId });
    const blocked = remove(graded, versionOf(versions, graded));
    const batch = [
      newcomer,
      edit(other, versionOf(versions, other), { lastName: 'Diop' }),
      blocked,
      // The same entity as the failed DELETE, on the version it still has.
      edit(graded, versionOf(versions, graded), { lastName: 'Kept' }),
      event({ entityType: 'GRADE' }, { examId: exam.entityId, studentId: newcomer.entityId, score: 17 }),
      remove(leaving, versionOf(versions, leaving)),
    ];
    const good = batch.filter((e) => e !== blocked);

    const { status, body } = await up(batch, 'desk-partial');
    expect(status).toBe(200);
    expect(body.acknowledged.map((a) => a.outboxEventId)).toEqual(good.map((e) => e.id));
    expect(body.conflicts).toEqual([]);
    expect(body.rejected).toEqual([
      {
        outboxEventId: blocked.id,
        code: 'REFERENCE',
        // The field and the rule, never the database's message or a table name.
        reason: `STUDENT ${blocked.entityId} is still referenced by GRADE records; delete or move those first`,
        rule: 'STILL_REFERENCED',
        params: { type: 'GRADE' },
      },
    ]);

    // Nothing of the bad event is applied; all of the good ones are.
    const acked = new Map(body.acknowledged.map((a) => [a.outboxEventId, Number(a.serverVersion)]));
    const students = await db.pool.query<{ id: string; last_name: string; server_version: number }>(
      'SELECT id, last_name, server_version FROM students WHERE id = ANY($1::uuid[])',
      [[graded, other, leaving, newcomer].map((e) => e.entityId)],
    );
    expect(new Map(students.rows.map((r) => [r.id, [r.last_name, r.server_version]]))).toEqual(
      new Map([
        [graded.entityId, ['Kept', acked.get(batch[3]!.id)]],
        [other.entityId, ['Diop', acked.get(batch[1]!.id)]],
        [newcomer.entityId, ['Diallo', acked.get(newcomer.id)]],
      ]),
    );
    const grades = await db.pool.query<{ student_id: string; score: string }>(
      'SELECT student_id, score::text AS score FROM grades WHERE exam_id = $1 ORDER BY score',
      [exam.entityId],
    );
    expect(grades.rows).toEqual([
      { student_id: graded.entityId, score: '14' },
      { student_id: newcomer.entityId, score: '17' },
    ]);

    // The log holds one row per good event with its origin, and no deletion of the graded student.
    await captureCaughtUp();
    const logged = await rowsOf(batch.map((e) => e.entityId));
    const fromBatch = logged.filter((r) => r.origin_client_id === 'desk-partial');
    const origins = (list: [string | null, string, string][]) =>
      list.sort(([a], [b]) => a!.localeCompare(b!));
    expect(origins(fromBatch.map((r) => [r.origin_outbox_event_id, r.entity_id, r.operation]))).toEqual(
      origins(good.map((e) => [e.id, e.entityId, e.operation])),
    );
    for (const row of fromBatch) expect(row.server_version).toBe(acked.get(row.origin_outbox_event_id!));
    expect(logged.filter((r) => r.entity_id === graded.entityId).map((r) => r.operation)).toEqual([
      'CREATE',
      'UPDATE',
    ]);

    const log = await upLog('desk-partial');
    expect(log).toEqual({ status: 'PARTIAL', events_count: 6, conflicts_count: 0, rejected_count: 1 });
    const audit = await db.pool.query(
      `SELECT outbox_event_id, outcome, code, version_after FROM sync_audit
        WHERE client_id = 'desk-partial' ORDER BY id`,
    );
    expect(new Map(audit.rows.map((r) => [r.outbox_event_id, r]))).toEqual(
      new Map(
        batch.map((e) => [
          e.id,
          e === blocked
            ? { outbox_event_id: e.id, outcome: 'REJECTED', code: 'REFERENCE', version_after: null }
            : { outbox_event_id: e.id, outcome: 'ACKNOWLEDGED', code: null, version_after: acked.get(e.id) },
        ]),
      ),
    );
    expect(audit.rows).toHaveLength(batch.length);

    // Sent again, the batch gets the same answer, rejection included, and nothing moves.
    const again = await up(batch, 'desk-partial');
    expect(again.body).toEqual({ ...body, syncTimestamp: expect.any(String) });
    await captureCaughtUp();
    expect(await rowsOf(batch.map((e) => e.entityId))).toHaveLength(logged.length);
  });

  it('an /up whose every event is rejected writes a sync_log row with status FAILED', async () => {
    const { klass, exam } = await seedClassWithExam();
    const graded = student({ classId: klass.entityId });
    const versions = await seed([
      graded,
      event({ entityType: 'GRADE' }, { examId: exam.entityId, studentId: graded.entityId, score: 9 }),
    ]);
    const foreign = { ...teacher(), tenantId: markerTenant };
    const invalid = student({ firstName: 42 });
    const dangling = student({ classId: randomUUID() });
    // Passes every check the planner makes and fails inside the database, alone in the careful path.
    const blocked = remove(graded, versionOf(versions, graded));
    const batch = [foreign, invalid, dangling, blocked];

    const { status, body } = await up(batch, 'desk-failed');
    expect(status).toBe(200);
    expect(body.acknowledged).toEqual([]);
    expect(body.conflicts).toEqual([]);
    expect(body.rejected.map((r) => [r.outboxEventId, r.code])).toEqual([
      [foreign.id, 'TENANT_MISMATCH'],
      [invalid.id, 'VALIDATION'],
      [dangling.id, 'REFERENCE'],
      [blocked.id, 'REFERENCE'],
    ]);
    const log = await upLog('desk-failed');
    expect(log).toEqual({ status: 'FAILED', events_count: 4, conflicts_count: 0, rejected_count: 4 });
    const audit = await db.pool.query(
      `SELECT outcome, count(*)::int AS n FROM sync_audit WHERE client_id = 'desk-failed' GROUP BY outcome`,
    );
    expect(audit.rows).toEqual([{ outcome: 'REJECTED', n: 4 }]);
    const written = await db.pool.query<{ id: string }>(
      'SELECT id FROM students WHERE id = ANY($1::uuid[])',
      [[invalid.entityId, dangling.entityId, graded.entityId]],
    );
    expect(written.rows).toEqual([{ id: graded.entityId }]);
    const elsewhere = await db.pool.query('SELECT 1 FROM teachers WHERE id = $1', [foreign.entityId]);
    expect(elsewhere.rows).toEqual([]);
  });
});
