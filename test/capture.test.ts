import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capture } from '../server/capture/capture.ts';
import { parseNotification } from '../server/log/notification.ts';
import { emitOrigin } from '../server/capture/origin.ts';
import type { SyncRules } from '../server/config/rules.ts';
import { createClient } from '../server/db/pool.ts';
import { waitFor, type TestDatabase } from './support/db.ts';
import {
  createCaptureDatabase,
  events as eventsIn,
  eventsOf as eventsOfIn,
  listenToSyncEvents,
  lsn,
  startCapture,
  type EventRow,
} from './support/capture-env.ts';

const T1 = randomUUID();
const T2 = randomUUID();

describe('capture: what lands in sync_events', () => {
  let db: TestDatabase;
  let rules: SyncRules;
  let capture: Capture;
  const notifications: string[] = [];
  let listener: pg.Client;

  beforeAll(async () => {
    ({ db, rules } = await createCaptureDatabase({
      hiddenFields: { TEACHER: ['email'] },
      entityTypes: [
        'ACADEMIC_YEAR',
        'SCHOOL_LEVEL',
        'CLASS',
        'STUDENT',
        'TEACHER',
        'EXAM',
        'PAYMENT',
        'ABSENCE',
      ],
    }));
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'A'), ($2, 'B')`, [T1, T2]);
    listener = await listenToSyncEvents(db, notifications);
    capture = await startCapture(db, rules);
  });

  afterAll(async () => {
    await capture?.stop();
    await listener?.end();
    await db?.drop();
  });

  const events = (where: string, params: unknown[] = []): Promise<EventRow[]> => eventsIn(db, where, params);
  const eventsOf = (ids: string[], count: number): Promise<EventRow[]> => eventsOfIn(db, ids, count);

  async function seedClass(tenant: string): Promise<{ classId: string }> {
    const [level, year, classId] = [randomUUID(), randomUUID(), randomUUID()];
    await db.pool.query(
      `INSERT INTO school_levels (tenant_id, id, name, rank) VALUES ($1, $2, 'L', 1);
       INSERT INTO academic_years (tenant_id, id, label, start_date, end_date) VALUES ($1, $3, 'Y', '2024-09-01', '2025-06-30');
       INSERT INTO classes (tenant_id, id, name, school_level_id, academic_year_id) VALUES ($1, $4, 'C', $2, $3)`.replace(
        /\$(\d)/g,
        (_m, n: string) => `'${[tenant, level, year, classId][Number(n) - 1]}'`,
      ),
    );
    return { classId };
  }

  it('a plain-SQL insert/update/delete by another connection lands in sync_events once, in commit order, typed as the protocol says', async () => {
    const { classId } = await seedClass(T1);
    const [student, exam, payment, absence] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const before = new Date();
    const client = await db.pool.connect();
    let xid: number;
    const versions: Record<string, number> = {};
    try {
      await client.query('BEGIN');
      xid = Number(
        (await client.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0]!.xid,
      );
      const insert = async (sql: string, params: unknown[]): Promise<void> => {
        const r = await client.query<{ id: string; server_version: number }>(
          `${sql} RETURNING id, server_version`,
          params,
        );
        versions[r.rows[0]!.id] = r.rows[0]!.server_version;
      };
      await insert(
        `INSERT INTO students (tenant_id, id, first_name, last_name, birth_date, class_id) VALUES ($1, $2, 'Ada', 'Lovelace', '2010-03-04', $3)`,
        [T1, student, classId],
      );
      await insert(
        `INSERT INTO exams (tenant_id, id, class_id, subject, date, max_score) VALUES ($1, $2, $3, 'Math', '2025-01-31', 20.5)`,
        [T1, exam, classId],
      );
      await insert(
        `INSERT INTO payments (tenant_id, id, student_id, amount_cents, currency, paid_at, method)
         VALUES ($1, $2, $3, 9007199254740993, 'EUR', '2024-05-01T10:00:00.123456Z', 'cash')`,
        [T1, payment, student],
      );
      await insert(
        `INSERT INTO absences (tenant_id, id, student_id, date, reason, justified) VALUES ($1, $2, $3, '2025-02-01', 'flu "A"\\n', true)`,
        [T1, absence, student],
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const updated = await db.pool.query<{ server_version: number }>(
      `UPDATE students SET first_name = 'Augusta' WHERE tenant_id = $1 AND id = $2 RETURNING server_version`,
      [T1, student],
    );
    await db.pool.query('DELETE FROM absences WHERE tenant_id = $1 AND id = $2', [T1, absence]);
    const after = new Date();

    const rows = await eventsOf([student, exam, payment, absence], 6);
    expect(rows.map((r) => [r.entity_id, r.operation])).toEqual([
      [student, 'CREATE'],
      [exam, 'CREATE'],
      [payment, 'CREATE'],
      [absence, 'CREATE'],
      [student, 'UPDATE'],
      [absence, 'DELETE'],
    ]);
    const [s, e, p, a, su, ad] = rows as [EventRow, EventRow, EventRow, EventRow, EventRow, EventRow];
    for (const r of [s, e, p, a]) {
      expect(r.xid).toBe(xid);
      expect(r.commit_lsn).toBe(s.commit_lsn);
      expect(r.server_version).toBe(versions[r.entity_id]);
      expect(r.payload.serverVersion).toBe(versions[r.entity_id]);
    }
    for (const r of rows) {
      expect(r.tenant_id).toBe(T1);
      expect(r.modified_at.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);
      expect(r.modified_at.getTime()).toBeLessThanOrEqual(after.getTime() + 1000);
    }
    expect(Object.keys(s.payload).sort()).toEqual(
      [
        'birthDate',
        'classId',
        'firstName',
        'id',
        'lastName',
        'notes',
        'serverVersion',
        'tenantId',
        'updatedAt',
      ].sort(),
    );
    expect(s.payload).toMatchObject({
      id: student,
      tenantId: T1,
      firstName: 'Ada',
      birthDate: '2010-03-04',
      classId,
      notes: null,
    });
    expect(s.payload.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(e.payload).toMatchObject({ date: '2025-01-31', maxScore: 20.5, subject: 'Math' });
    expect(p.payload).toMatchObject({
      amountCents: '9007199254740993',
      paidAt: '2024-05-01T10:00:00.123Z',
      currency: 'EUR',
    });
    expect(a.payload).toMatchObject({ justified: true, reason: 'flu "A"\\n', date: '2025-02-01' });
    expect(su.payload).toMatchObject({ firstName: 'Augusta' });
    expect(su.server_version).toBe(updated.rows[0]!.server_version);
    expect(BigInt(`0x${su.commit_lsn.replace('/', '')}`) > 0n).toBe(true);
    expect(ad.payload).toEqual({ id: absence, tenantId: T1 });
    expect(ad.server_version).toBeGreaterThan(versions[absence]!);
    expect(ad.id).toBeGreaterThan(su.id);
    expect(lsn(ad.commit_lsn) > lsn(su.commit_lsn) && lsn(su.commit_lsn) > lsn(s.commit_lsn)).toBe(true);
  });

  it('transactions interleaved on two connections are stored in commit order, never statement order', async () => {
    const a = createClient(db.url);
    const b = createClient(db.url);
    await Promise.all([a.connect(), b.connect()]);
    const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()] as const;
    const teacher = (c: pg.Client, id: string): Promise<unknown> =>
      c.query(`INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'T', 'T')`, [
        T2,
        id,
      ]);
    try {
      await a.query('BEGIN');
      await b.query('BEGIN');
      await teacher(a, ids[0]);
      await teacher(b, ids[1]);
      await teacher(a, ids[2]);
      await b.query('COMMIT');
      await teacher(a, ids[3]);
      await a.query('COMMIT');
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
    const rows = await eventsOf([...ids], 4);
    expect(rows.map((r) => r.entity_id)).toEqual([ids[1], ids[0], ids[2], ids[3]]);
    expect(lsn(rows[0]!.commit_lsn) < lsn(rows[1]!.commit_lsn)).toBe(true);
    expect(rows.every((r) => r.tenant_id === T2)).toBe(true);
  });

  it('hidden fields are never stored, and the notification names the touched tenants', async () => {
    const id = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name, email) VALUES ($1, $2, 'H', 'F', 'secret-address@example.org')`,
      [T1, id],
    );
    const [row] = await eventsOf([id], 1);
    expect(row!.payload).not.toHaveProperty('email');
    const raw = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sync_events WHERE payload::text LIKE '%secret-address%'`,
    );
    expect(raw.rows[0]!.n).toBe(0);
    await waitFor(() =>
      notifications
        .map(parseNotification)
        .some((n) => n !== null && 'tenantIds' in n && n.tenantIds.includes(T1) && n.lastEventId >= row!.id),
    );
  });

  it('changes of entity types the rules do not sync are skipped, the rest of their transaction is not', async () => {
    const { classId } = await seedClass(T1);
    const [student, grade, incident] = [randomUUID(), randomUUID(), randomUUID()];
    const exam = randomUUID();
    await db.pool.query(
      `BEGIN;
       INSERT INTO students (tenant_id, id, first_name, last_name) VALUES ('${T1}', '${student}', 'S', 'S');
       INSERT INTO exams (tenant_id, id, class_id, subject, date, max_score) VALUES ('${T1}', '${exam}', '${classId}', 'X', '2025-01-01', 10);
       INSERT INTO grades (tenant_id, id, exam_id, student_id, score) VALUES ('${T1}', '${grade}', '${exam}', '${student}', 7);
       INSERT INTO disciplinary_incidents (tenant_id, id, student_id, date, description, severity) VALUES ('${T1}', '${incident}', '${student}', '2025-01-01', 'x', 'LOW');
       COMMIT;`,
    );
    await eventsOf([student, exam], 2);
    const marker = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'M', 'M')`,
      [T1, marker],
    );
    await eventsOf([marker], 1);
    expect(await events('entity_id = ANY($1::uuid[])', [[grade, incident]])).toEqual([]);
  });

  it('an UPDATE that leaves a TOASTed 20 kB column untouched still carries its value', async () => {
    const id = randomUUID();
    const notes = randomBytes(15_000).toString('base64'); // incompressible: stored out of line
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, notes) VALUES ($1, $2, 'Big', 'Notes', $3)`,
      [T1, id, notes],
    );
    // Stored out of line: the students table's TOAST relation holds it (portable to Postgres 15).
    const toasted = await db.pool.query<{ bytes: number }>(
      `SELECT pg_relation_size(reltoastrelid)::int AS bytes FROM pg_class WHERE oid = 'students'::regclass`,
    );
    expect(toasted.rows[0]!.bytes).toBeGreaterThan(15_000);
    await db.pool.query(`UPDATE students SET first_name = 'Bigger' WHERE tenant_id = $1 AND id = $2`, [
      T1,
      id,
    ]);
    const rows = await eventsOf([id], 2);
    expect(rows[1]!.operation).toBe('UPDATE');
    expect(rows[1]!.payload.firstName).toBe('Bigger');
    expect(rows[1]!.payload.notes).toBe(notes);
  });

  it('a column added by ALTER TABLE flows into payloads without a restart', async () => {
    await db.pool.query(`ALTER TABLE teachers ADD COLUMN phone text, ADD COLUMN room_number integer`);
    const id = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name, phone, room_number) VALUES ($1, $2, 'P', 'Q', '+33 1', 12)`,
      [T1, id],
    );
    const [row] = await eventsOf([id], 1);
    expect(row!.payload).toMatchObject({ phone: '+33 1', roomNumber: 12 });
  });

  it("an origin message stamps each named entity's row changes, in order, and no others", async () => {
    const [t1, t2, t3, t4] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const [o1, o2, o3] = [randomUUID(), randomUUID(), randomUUID()];
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'D', 'D')`,
      [T1, t4],
    );
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await emitOrigin(client, {
        clientId: 'desk-1',
        ops: [
          ['TEACHER', t1, o1, 0],
          ['TEACHER', t1, o2, 0],
          ['TEACHER', t4, o3, 987_654_321],
        ],
      });
      await client.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'O', 'O')`,
        [T1, t1],
      );
      // Written in the same transaction by the upload's own code but not named in the message: no origin.
      await client.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'O', 'O')`,
        [T1, t2],
      );
      await client.query(`UPDATE teachers SET first_name = 'P' WHERE tenant_id = $1 AND id = $2`, [T1, t1]);
      await client.query(`DELETE FROM teachers WHERE tenant_id = $1 AND id = $2`, [T1, t4]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'N', 'N')`,
      [T1, t3],
    );
    const rows = await eventsOf([t1, t2, t3, t4], 6);
    expect(rows.map((r) => [r.entity_id, r.operation, r.origin_client_id, r.origin_outbox_event_id])).toEqual(
      [
        [t4, 'CREATE', null, null],
        [t1, 'CREATE', 'desk-1', o1],
        [t2, 'CREATE', null, null],
        [t1, 'UPDATE', 'desk-1', o2],
        [t4, 'DELETE', 'desk-1', o3],
        [t3, 'CREATE', null, null],
      ],
    );
    // The deletion keeps the version the upload answered the desk with.
    expect(Number(rows[4]!.server_version)).toBe(987_654_321);
  });

  it('text with tabs, newlines, carriage returns, backslashes, quotes and emoji arrives unchanged', async () => {
    const id = randomUUID();
    const notes = 'line 1\nline 2\r\n\tindented \\ back\\slash "quoted" \\N not null 🎒 é';
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, $3, $4)`,
      [T1, id, 'Tab\tName', notes],
    );
    const [event] = await eventsOf([id], 1);
    expect(event?.payload).toMatchObject({ firstName: 'Tab\tName', lastName: notes });
  });

  it("capture stores each payload's size as a page ships it (jsonb text), counted without Postgres", async () => {
    const id = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name, email) VALUES ($1, $2, $3, $4, $5)`,
      [T1, id, 'a:b,c "q" \\', 'Ndiaye, Fatou: 🎒 é', 'x@y.sn'],
    );
    await eventsOf([id], 1);
    const sizes = await db.pool.query<{ stored: number; actual: number }>(
      `SELECT payload_bytes AS stored, octet_length(payload::text) AS actual FROM sync_events`,
    );
    expect(sizes.rows.length).toBeGreaterThan(10);
    for (const { stored, actual } of sizes.rows) expect(stored).toBe(actual);
  });
});
