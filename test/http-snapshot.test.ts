import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../server/log/cursor.ts';
import { ENTITY_TABLES, ENTITY_TYPES, type EntityType } from '../shared/entities.ts';
import {
  snapshotResponseSchema,
  syncDownResponseSchema,
  type Change,
  type SnapshotResponse,
} from '../shared/protocol.ts';
import type { Pool } from '../server/db/pool.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, insertEvents, startTestServer, type TestServer } from './support/http.ts';

const SNAPSHOT = '/api/sync/snapshot';

/** A small school: rows in seven tables, with dates, numerics, bigints, timestamps and nulls. */
async function seedSchool(pool: Pool, tenantId: string, students = 25): Promise<void> {
  const q = (text: string) => pool.query(text, [tenantId]);
  await q(`INSERT INTO academic_years (tenant_id, id, label, start_date, end_date)
           SELECT $1, gen_random_uuid(), '202' || g || '-202' || (g + 1), make_date(2020 + g, 9, 1),
             make_date(2021 + g, 6, 30) FROM generate_series(1, 2) g`);
  await q(`INSERT INTO school_levels (tenant_id, id, name, rank)
           SELECT $1, gen_random_uuid(), 'Level ' || g, g FROM generate_series(1, 3) g`);
  await q(`INSERT INTO classes (tenant_id, id, name, school_level_id, academic_year_id)
           SELECT $1, gen_random_uuid(), 'Class ' || g,
             (SELECT id FROM school_levels WHERE tenant_id = $1 ORDER BY rank LIMIT 1),
             (SELECT id FROM academic_years WHERE tenant_id = $1 ORDER BY label LIMIT 1)
           FROM generate_series(1, 4) g`);
  await pool.query(
    `INSERT INTO students (tenant_id, id, first_name, last_name, birth_date, class_id, notes)
     SELECT $1, gen_random_uuid(), 'First' || g, 'Last' || g, make_date(2012, 3, 4),
       (SELECT id FROM classes WHERE tenant_id = $1 ORDER BY name LIMIT 1), 'private note ' || g
     FROM generate_series(1, $2::integer) g`,
    [tenantId, students],
  );
  await q(`INSERT INTO teachers (tenant_id, id, first_name, last_name, email)
           SELECT $1, gen_random_uuid(), 'T' || g, 'Teacher', CASE WHEN g > 2 THEN 't' || g || '@school.test' END
           FROM generate_series(1, 5) g`);
  await q(`INSERT INTO exams (tenant_id, id, class_id, subject, date, max_score)
           SELECT $1, gen_random_uuid(), (SELECT id FROM classes WHERE tenant_id = $1 LIMIT 1), 'Maths', '2024-05-06', 20.5
           FROM generate_series(1, 3) g`);
  await q(`INSERT INTO payments (tenant_id, id, student_id, amount_cents, currency, paid_at, method)
           SELECT $1, gen_random_uuid(), (SELECT id FROM students WHERE tenant_id = $1 LIMIT 1), 150000 + g, 'XOF',
             '2024-05-06T07:08:09.123Z', 'cash' FROM generate_series(1, 6) g`);
}

describe('POST /api/sync/snapshot', () => {
  let db: TestDatabase;
  let server: TestServer;
  let school: string;
  let other: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.pool);
    school = await createTenant(db.pool, 'School');
    other = await createTenant(db.pool, 'Other');
    await seedSchool(db.pool, school);
    await seedSchool(db.pool, other, 7);
  });
  afterAll(async () => {
    await server.close();
    await db.drop();
  });

  async function snapshot(
    tenantId: string,
    body: Record<string, unknown>,
    target: TestServer = server,
  ): Promise<SnapshotResponse> {
    const token = await target.token(tenantId);
    const response = await target.post(SNAPSHOT, { clientId: 'desk-1', ...body }, { token });
    expect(response.status, response.text).toBe(200);
    return snapshotResponseSchema.parse(response.body);
  }

  async function drainSnapshot(tenantId: string, body: Record<string, unknown>, target?: TestServer) {
    const changes: Change[] = [];
    const cursors = new Set<string>();
    let pageToken: string | undefined;
    for (;;) {
      const page = await snapshot(tenantId, { ...body, ...(pageToken ? { pageToken } : {}) }, target);
      changes.push(...page.changes);
      cursors.add(page.cursor);
      if (!page.hasMore) {
        expect(page.pageToken).toBeUndefined();
        return { changes, cursors };
      }
      expect(page.pageToken).toBeDefined();
      pageToken = page.pageToken;
    }
  }

  async function rowIds(tenantId: string, type: EntityType): Promise<string[]> {
    const result = await db.pool.query<{ id: string }>(
      `SELECT id FROM ${ENTITY_TABLES[type]} WHERE tenant_id = $1 ORDER BY id`,
      [tenantId],
    );
    return result.rows.map((r) => r.id);
  }

  it('pages cover every current row exactly once, referenced types first, with one cursor', async () => {
    const { changes, cursors } = await drainSnapshot(school, { limit: 7 });
    const expected: string[] = [];
    for (const type of ENTITY_TYPES) expected.push(...(await rowIds(school, type)));
    expect(changes).toHaveLength(48);
    expect(changes.map((c) => c.entityId)).toEqual(expected);
    expect(new Set(changes.map((c) => c.id)).size).toBe(48);
    const typeOrder = [...new Set(changes.map((c) => c.entityType))];
    expect(typeOrder).toEqual(ENTITY_TYPES.filter((t) => typeOrder.includes(t)));
    expect(cursors.size).toBe(1);
    for (const change of changes) {
      expect(change.operation).toBe('CREATE');
      expect(change.id).toBe(`s${change.serverVersion}`);
      expect(change.payload).toMatchObject({
        id: change.entityId,
        tenantId: school,
        serverVersion: change.serverVersion,
      });
    }
  });

  it('payloads are camelCase with the types capture writes: dates, numbers, timestamps, nulls', async () => {
    const { changes } = await drainSnapshot(school, {
      entityTypes: ['PAYMENT', 'STUDENT', 'EXAM', 'TEACHER'],
    });
    const byType = (type: EntityType) => changes.filter((c) => c.entityType === type);
    expect(changes.map((c) => c.entityType)).toEqual([
      ...Array<string>(25).fill('STUDENT'),
      ...Array<string>(5).fill('TEACHER'),
      ...Array<string>(3).fill('EXAM'),
      ...Array<string>(6).fill('PAYMENT'),
    ]);
    const student = byType('STUDENT')[0]!.payload;
    expect(student).toMatchObject({
      birthDate: '2012-03-04',
      notes: expect.stringMatching(/^private note/) as string,
    });
    expect(Object.keys(student).sort()).toEqual(
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
    expect(new Date(student.updatedAt as string).toString()).not.toBe('Invalid Date');
    expect(byType('EXAM')[0]!.payload).toMatchObject({
      maxScore: 20.5,
      date: '2024-05-06',
      subject: 'Maths',
    });
    const payment = byType('PAYMENT')[0]!.payload;
    expect(typeof payment.amountCents).toBe('number');
    expect(new Date(payment.paidAt as string).toISOString()).toBe('2024-05-06T07:08:09.123Z');
    expect(byType('TEACHER').some((t) => t.payload.email === null)).toBe(true);
  });

  it('another tenant’s rows never appear', async () => {
    const { changes } = await drainSnapshot(other, { limit: 5 });
    expect(changes.every((c) => c.payload.tenantId === other)).toBe(true);
    const theirs = new Set<string>();
    for (const type of ENTITY_TYPES) for (const id of await rowIds(school, type)) theirs.add(id);
    expect(changes.some((c) => theirs.has(c.entityId))).toBe(false);
    expect(changes).toHaveLength(2 + 3 + 4 + 7 + 5 + 3 + 6);
  });

  it('hidden fields never leave the server', async () => {
    const hiding = await startTestServer(db.pool, { hiddenFields: { STUDENT: ['notes', 'birthDate'] } });
    try {
      const { changes } = await drainSnapshot(school, { entityTypes: ['STUDENT'], limit: 10 }, hiding);
      expect(changes).toHaveLength(25);
      for (const change of changes) {
        expect(change.payload).not.toHaveProperty('notes');
        expect(change.payload).not.toHaveProperty('birthDate');
        expect(change.payload).toHaveProperty('firstName');
      }
    } finally {
      await hiding.close();
    }
  });

  it('a tampered, foreign or mismatched pageToken is 400 INVALID_PAGE_TOKEN', async () => {
    const first = await snapshot(school, { limit: 3 });
    const token = first.pageToken!;
    const [body, mac] = token.split('.') as [string, string];
    const decoded = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const moved = Buffer.from(JSON.stringify({ ...decoded, cursor: 'c1.0.1' })).toString('base64url');
    const flip = (s: string) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A');
    const bearer = await server.token(school);
    const foreign = await snapshot(other, { limit: 3 });
    const cases: unknown[] = [
      `${moved}.${mac}`,
      `${body}.${flip(mac)}`,
      `${flip(body)}.${mac}`,
      body,
      `${token}.x`,
      'garbage',
      foreign.pageToken,
      '',
      42,
    ];
    for (const pageToken of cases) {
      const response = await server.post(SNAPSHOT, { clientId: 'd', pageToken }, { token: bearer });
      expect({ pageToken, status: response.status, body: response.body }).toMatchObject({
        pageToken,
        status: 400,
        body: { code: 'INVALID_PAGE_TOKEN' },
      });
    }
    const otherTypes = await server.post(
      SNAPSHOT,
      { clientId: 'd', pageToken: token, entityTypes: ['STUDENT'] },
      { token: bearer },
    );
    expect(otherTypes).toMatchObject({ status: 400, body: { code: 'INVALID_PAGE_TOKEN' } });
    // The untampered token still works, with or without the same entityTypes.
    expect((await snapshot(school, { pageToken: token, limit: 3 })).cursor).toBe(first.cursor);
  });

  it('the snapshot cursor continues with /down: changes logged after the first page, and only those', async () => {
    const tenant = await createTenant(db.pool);
    await seedSchool(db.pool, tenant, 3);
    const before = await insertEvents(db.pool, { tenantId: tenant, count: 5 });
    const first = await snapshot(tenant, { limit: 4 });
    expect(first.cursor).toBe(encodeCursor({ epoch: 0, eventId: before.at(-1)! }));
    const after = await insertEvents(db.pool, { tenantId: tenant, count: 3 });
    const token = await server.token(tenant);
    const response = await server.post('/api/sync/down', { clientId: 'd', cursor: first.cursor }, { token });
    expect(response.status).toBe(200);
    const down = syncDownResponseSchema.parse(response.body);
    expect(down.changes.map((c) => c.id)).toEqual(after.map(String));
  });

  it('after pruning, the snapshot cursor sits at the floor and /down accepts it', async () => {
    const tenant = await createTenant(db.pool);
    await seedSchool(db.pool, tenant, 2);
    const ids = await insertEvents(db.pool, { tenantId: tenant, count: 4 });
    const floor = ids.at(-1)! + 0;
    await db.pool.query('DELETE FROM sync_events WHERE tenant_id = $1', [tenant]);
    await db.pool.query(`INSERT INTO sync_tenant_log (tenant_id, epoch, floor_id) VALUES ($1, 2, $2)`, [
      tenant,
      floor,
    ]);
    const page = await snapshot(tenant, {});
    expect(page.cursor).toBe(encodeCursor({ epoch: 2, eventId: floor }));
    const token = await server.token(tenant);
    const response = await server.post('/api/sync/down', { clientId: 'd', cursor: page.cursor }, { token });
    expect(response).toMatchObject({ status: 200, body: { changes: [], hasMore: false } });
  });

  it('a log rebuilt between two pages is 410 RESYNC_REQUIRED on the next page', async () => {
    const tenant = await createTenant(db.pool);
    await seedSchool(db.pool, tenant, 2);
    const first = await snapshot(tenant, { limit: 2 });
    await db.pool.query(`INSERT INTO sync_tenant_log (tenant_id, epoch, floor_id) VALUES ($1, 1, 0)`, [
      tenant,
    ]);
    const token = await server.token(tenant);
    const next = await server.post(SNAPSHOT, { clientId: 'd', pageToken: first.pageToken }, { token });
    expect(next).toMatchObject({ status: 410, body: { code: 'RESYNC_REQUIRED' } });
  });

  it('bad input is a 400 with a code: unknown or unserved type, bad limit, wrong types', async () => {
    const token = await server.token(school);
    const cases: [unknown, string][] = [
      [{ clientId: 'd', entityTypes: ['PARENT'] }, 'UNKNOWN_ENTITY_TYPE'],
      [{ clientId: 'd', limit: 0 }, 'BAD_REQUEST'],
      [{ clientId: 'd', limit: -3 }, 'BAD_REQUEST'],
      [{ clientId: 'd', limit: 'all' }, 'BAD_REQUEST'],
      [{ entityTypes: ['STUDENT'] }, 'BAD_REQUEST'],
      ['[]', 'BAD_REQUEST'],
      ['{', 'INVALID_JSON'],
    ];
    for (const [body, code] of cases) {
      const response = await server.post(SNAPSHOT, body, { token });
      expect({ body, status: response.status, code: (response.body as { code?: string }).code }).toEqual({
        body,
        status: 400,
        code,
      });
    }
    const narrow = await startTestServer(db.pool, { entityTypes: ['STUDENT'] });
    try {
      const t = await narrow.token(school);
      const refused = await narrow.post(SNAPSHOT, { clientId: 'd', entityTypes: ['PAYMENT'] }, { token: t });
      expect(refused).toMatchObject({ status: 400, body: { code: 'UNKNOWN_ENTITY_TYPE' } });
      const { changes } = await drainSnapshot(school, {}, narrow);
      expect(new Set(changes.map((c) => c.entityType))).toEqual(new Set(['STUDENT']));
      const huge = await snapshot(school, { limit: 1e9 }, narrow);
      expect(huge.changes).toHaveLength(25);
    } finally {
      await narrow.close();
    }
  });

  it('each snapshot request writes one sync_log row (direction SNAPSHOT)', async () => {
    const tenant = await createTenant(db.pool);
    await seedSchool(db.pool, tenant, 3);
    const first = await snapshot(tenant, { clientId: 'desk-snap', limit: 10 });
    await snapshot(tenant, { clientId: 'desk-snap', limit: 10, pageToken: first.pageToken });
    const token = await server.token(tenant);
    await server.post(SNAPSHOT, { clientId: 'desk-snap', pageToken: 'x' }, { token });
    const rows = await waitFor(async () => {
      const result = await db.pool.query<{ status: string; events_count: number; direction: string }>(
        `SELECT direction, status, events_count FROM sync_log WHERE tenant_id = $1 ORDER BY started_at`,
        [tenant],
      );
      return result.rows.length === 3 && result.rows;
    });
    expect(rows).toEqual([
      { direction: 'SNAPSHOT', status: 'SUCCESS', events_count: 10 },
      { direction: 'SNAPSHOT', status: 'SUCCESS', events_count: 10 },
      { direction: 'SNAPSHOT', status: 'FAILED', events_count: 0 },
    ]);
  });
});
