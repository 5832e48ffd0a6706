import { gunzipSync } from 'node:zlib';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../server/log/cursor.ts';
import { errorBodySchema, syncDownResponseSchema, type SyncDownResponse } from '../shared/protocol.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, insertEvents, startTestServer, type TestServer } from './support/http.ts';

describe('POST /api/sync/down', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.pool);
  });
  afterAll(async () => {
    await server.close();
    await db.drop();
  });

  async function down(tenantId: string, body: Record<string, unknown>): Promise<SyncDownResponse> {
    const token = await server.token(tenantId);
    const response = await server.post('/api/sync/down', { clientId: 'desk-1', ...body }, { token });
    expect(response.status, response.text).toBe(200);
    return syncDownResponseSchema.parse(response.body);
  }

  async function downStatus(tenantId: string, body: unknown): Promise<{ status: number; code: unknown }> {
    const token = await server.token(tenantId);
    const response = await server.post('/api/sync/down', body, { token });
    return { status: response.status, code: (response.body as { code?: unknown } | undefined)?.code };
  }

  /** Pages from `cursor` until hasMore is false; returns every change id and the final cursor. */
  async function drain(tenantId: string, body: Record<string, unknown>) {
    const ids: string[] = [];
    const types: string[] = [];
    let cursor = (body.cursor as string | null | undefined) ?? null;
    let pages = 0;
    for (;;) {
      const page = await down(tenantId, { ...body, cursor });
      pages++;
      for (const change of page.changes) {
        ids.push(change.id);
        types.push(change.entityType);
      }
      cursor = page.cursor;
      if (!page.hasMore) return { ids, types, cursor, pages };
    }
  }

  it('a tenant gets its own changes and never another tenant’s', async () => {
    const a = await createTenant(db.pool, 'A');
    const b = await createTenant(db.pool, 'B');
    const aIds: number[] = [];
    for (let round = 0; round < 3; round++) {
      aIds.push(...(await insertEvents(db.pool, { tenantId: a, count: 20 })));
      await insertEvents(db.pool, { tenantId: b, count: 15 });
    }
    const page = await down(a, {});
    expect(page.changes.map((c) => c.id)).toEqual(aIds.map(String));
    expect(page.changes.every((c) => c.payload.tenantId === a)).toBe(true);
    const first = page.changes[0]!;
    expect(first).toMatchObject({ entityType: 'STUDENT', operation: 'CREATE' });
    expect(first.payload).toMatchObject({ firstName: 'Awa', lastName: 'Diallo', id: first.entityId });
    expect(first.modifiedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(page.hasMore).toBe(false);
  });

  it('I4: cursor paging over 10 000 changes with limit 137 returns each exactly once, in order', async () => {
    const a = await createTenant(db.pool);
    const other = await createTenant(db.pool);
    const expected: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      expected.push(...(await insertEvents(db.pool, { tenantId: a, count: 1000 })));
      await insertEvents(db.pool, { tenantId: other, count: 50 });
    }
    const { ids, cursor, pages } = await drain(a, { limit: 137 });
    expect(ids).toHaveLength(10_000);
    expect(new Set(ids).size).toBe(10_000);
    expect(ids).toEqual(expected.map(String));
    expect(pages).toBe(Math.ceil(10_000 / 137));

    // Nothing new: the cursor stays where it is; something new: exactly that is delivered.
    const again = await down(a, { cursor, limit: 137 });
    expect(again).toMatchObject({ changes: [], cursor, hasMore: false });
    const more = await insertEvents(db.pool, { tenantId: a, count: 3 });
    const next = await down(a, { cursor, limit: 137 });
    expect(next.changes.map((c) => c.id)).toEqual(more.map(String));
  });

  it('the returned cursor is never behind the one sent', async () => {
    const a = await createTenant(db.pool);
    const other = await createTenant(db.pool);
    await insertEvents(db.pool, { tenantId: a, count: 5 });
    const [, , lastOther] = await insertEvents(db.pool, { tenantId: other, count: 3 });
    // A position past every change of this tenant (but issued: another tenant's id).
    const ahead = encodeCursor({ epoch: 0, eventId: lastOther! });
    const page = await down(a, { cursor: ahead });
    expect(page).toMatchObject({ changes: [], cursor: ahead, hasMore: false });
    const filtered = await down(a, { cursor: ahead, entityTypes: ['TEACHER'] });
    expect(filtered.cursor).toBe(ahead);
  });

  it('entityTypes returns only those types, and once drained the cursor moves past the other types', async () => {
    const a = await createTenant(db.pool);
    const students = await insertEvents(db.pool, { tenantId: a, count: 30, entityType: 'STUDENT' });
    const teachers = await insertEvents(db.pool, { tenantId: a, count: 40, entityType: 'TEACHER' });
    const students2 = await insertEvents(db.pool, { tenantId: a, count: 30, entityType: 'STUDENT' });
    const grades = await insertEvents(db.pool, { tenantId: a, count: 25, entityType: 'GRADE' });

    const { ids, types, cursor } = await drain(a, { entityTypes: ['STUDENT'], limit: 7 });
    expect(ids).toEqual([...students, ...students2].map(String));
    expect(new Set(types)).toEqual(new Set(['STUDENT']));
    // Every change of the tenant up to its last one (a GRADE) has been considered.
    expect(cursor).toBe(encodeCursor({ epoch: 0, eventId: grades.at(-1)! }));

    const both = await drain(a, { entityTypes: ['TEACHER', 'GRADE'], limit: 1000 });
    expect(both.ids).toEqual([...teachers, ...grades].map(String));

    const later = await insertEvents(db.pool, { tenantId: a, count: 2, entityType: 'STUDENT' });
    const next = await down(a, { cursor, entityTypes: ['STUDENT'] });
    expect(next.changes.map((c) => c.id)).toEqual(later.map(String));
  });

  it('lastSyncTimestamp alone serves the changes committed after that time; a cursor wins over it', async () => {
    const a = await createTenant(db.pool);
    const t0 = new Date('2030-01-01T10:00:00.000Z');
    const early = await insertEvents(db.pool, { tenantId: a, count: 10, modifiedAt: t0 });
    const late = await insertEvents(db.pool, {
      tenantId: a,
      count: 10,
      modifiedAt: new Date(t0.getTime() + 60_000),
    });

    const since = await drain(a, { lastSyncTimestamp: '2030-01-01T10:00:30.000Z', limit: 4 });
    expect(since.ids).toEqual(late.map(String));
    // Exactly at t0: the early transaction is not "after" it.
    const atT0 = await drain(a, { lastSyncTimestamp: t0.toISOString() });
    expect(atT0.ids).toEqual(late.map(String));
    const before = await drain(a, { lastSyncTimestamp: '2030-01-01T09:00:00+00:00' });
    expect(before.ids).toEqual([...early, ...late].map(String));

    const after = await down(a, { lastSyncTimestamp: '2031-01-01T00:00:00Z' });
    expect(after.changes).toEqual([]);
    expect(after.cursor).toBe(encodeCursor({ epoch: 0, eventId: late.at(-1)! }));

    const cursorWins = await down(a, {
      cursor: encodeCursor({ epoch: 0, eventId: early.at(-1)! }),
      lastSyncTimestamp: '2031-01-01T00:00:00Z',
    });
    expect(cursorWins.changes.map((c) => c.id)).toEqual(late.map(String));
  });

  it('lastSyncTimestamp finds its start among many commits of two tenants, and a commit time out of order is not missed', async () => {
    const [a, b] = [await createTenant(db.pool), await createTenant(db.pool)];
    const t0 = Date.parse('2031-03-01T08:00:00.000Z');
    // 40 commits a second apart, of 1 to 3 changes of a, each followed by one of b: ids in commit order.
    const commits: { at: number; ids: number[] }[] = [];
    for (let i = 0; i < 40; i++) {
      const at = t0 + i * 1000;
      commits.push({
        at,
        ids: await insertEvents(db.pool, { tenantId: a, count: 1 + (i % 3), modifiedAt: new Date(at) }),
      });
      await insertEvents(db.pool, { tenantId: b, count: 1, modifiedAt: new Date(at) });
    }
    const after = (time: number): string[] =>
      commits.filter((c) => c.at > time).flatMap((c) => c.ids.map(String));
    for (const time of [
      t0 - 1,
      t0,
      t0 + 1,
      t0 + 12_000,
      t0 + 12_500,
      t0 + 38_999,
      t0 + 39_000,
      t0 + 60_000,
    ]) {
      const since = await drain(a, { lastSyncTimestamp: new Date(time).toISOString(), limit: 7 });
      expect(since.ids, new Date(time).toISOString()).toEqual(after(time));
    }
    // Two transactions that commit together can get their times the other way round: the change with the
    // later time but the lower id is still after the time.
    const c = await createTenant(db.pool);
    const t1 = Date.parse('2031-04-01T08:00:00.000Z');
    const early = await insertEvents(db.pool, { tenantId: c, count: 5, modifiedAt: new Date(t1) });
    const swappedLate = await insertEvents(db.pool, { tenantId: c, count: 1, modifiedAt: new Date(t1 + 2) });
    const swappedEarly = await insertEvents(db.pool, { tenantId: c, count: 1, modifiedAt: new Date(t1 + 1) });
    const late = await insertEvents(db.pool, { tenantId: c, count: 3, modifiedAt: new Date(t1 + 10) });
    const since = await drain(c, { lastSyncTimestamp: new Date(t1 + 1).toISOString() });
    expect(since.ids).toEqual([...swappedLate, ...swappedEarly, ...late].map(String));
    expect(early).toHaveLength(5);
  });

  it('limit defaults to rules.limits.downDefault and a limit above downMax is capped, not refused', async () => {
    const small = await startTestServer(db.pool, { limits: { downDefault: 5, downMax: 12 } });
    try {
      const a = await createTenant(db.pool);
      await insertEvents(db.pool, { tenantId: a, count: 30 });
      const token = await small.token(a);
      const byDefault = await small.post('/api/sync/down', { clientId: 'd' }, { token });
      expect((byDefault.body as SyncDownResponse).changes).toHaveLength(5);
      const huge = await small.post('/api/sync/down', { clientId: 'd', limit: 1e12 }, { token });
      expect(huge.status).toBe(200);
      expect((huge.body as SyncDownResponse).changes).toHaveLength(12);
      expect((huge.body as SyncDownResponse).hasMore).toBe(true);
    } finally {
      await small.close();
    }
  });

  it('410 RESYNC_REQUIRED for a cursor of an older epoch (log rebuilt), and for a null cursor after it', async () => {
    const a = await createTenant(db.pool);
    const ids = await insertEvents(db.pool, { tenantId: a, count: 10 });
    const old = await down(a, {});
    await db.pool.query(
      `INSERT INTO sync_tenant_log (tenant_id, epoch, floor_id, reason) VALUES ($1, 1, $2, 'TRUNCATE students')`,
      [a, ids.at(-1)],
    );
    expect(await downStatus(a, { clientId: 'd', cursor: old.cursor })).toEqual({
      status: 410,
      code: 'RESYNC_REQUIRED',
    });
    expect(await downStatus(a, { clientId: 'd', cursor: null })).toEqual({
      status: 410,
      code: 'RESYNC_REQUIRED',
    });
    // The new epoch's cursor at the floor is served.
    const fresh = encodeCursor({ epoch: 1, eventId: ids.at(-1)! });
    const more = await insertEvents(db.pool, { tenantId: a, count: 2 });
    const page = await down(a, { cursor: fresh });
    expect(page.changes.map((c) => c.id)).toEqual(more.map(String));
  });

  it('410 for a cursor below the pruned floor, for a null cursor and for lastSyncTimestamp once pruned', async () => {
    const a = await createTenant(db.pool);
    const ids = await insertEvents(db.pool, { tenantId: a, count: 20 });
    const floor = ids[9]!;
    await db.pool.query('DELETE FROM sync_events WHERE tenant_id = $1 AND id <= $2', [a, floor]);
    await db.pool.query(
      `INSERT INTO sync_tenant_log (tenant_id, epoch, floor_id, reason) VALUES ($1, 0, $2, 'prune')`,
      [a, floor],
    );
    const resync = { status: 410, code: 'RESYNC_REQUIRED' };
    const below = encodeCursor({ epoch: 0, eventId: ids[3]! });
    expect(await downStatus(a, { clientId: 'd', cursor: below })).toEqual(resync);
    expect(await downStatus(a, { clientId: 'd' })).toEqual(resync);
    expect(await downStatus(a, { clientId: 'd', lastSyncTimestamp: '2000-01-01T00:00:00Z' })).toEqual(resync);
    const atFloor = await down(a, { cursor: encodeCursor({ epoch: 0, eventId: floor }) });
    expect(atFloor.changes.map((c) => c.id)).toEqual(ids.slice(10).map(String));
  });

  it('bad input is a 400 with a stable code, never a 500', async () => {
    const a = await createTenant(db.pool);
    await insertEvents(db.pool, { tenantId: a, count: 3 });
    const token = await server.token(a);
    const neverIssued = encodeCursor({ epoch: 0, eventId: 2 ** 40 });
    const cases: [string, unknown, number, string | undefined][] = [
      ['garbage cursor', { clientId: 'd', cursor: 'not-a-cursor' }, 400, 'INVALID_CURSOR'],
      ['non-canonical cursor', { clientId: 'd', cursor: 'c1.0.01' }, 400, 'INVALID_CURSOR'],
      ['cursor never issued', { clientId: 'd', cursor: neverIssued }, 400, 'INVALID_CURSOR'],
      ['cursor of a future epoch', { clientId: 'd', cursor: 'c1.5.1' }, 400, 'INVALID_CURSOR'],
      ['cursor of the wrong type', { clientId: 'd', cursor: 42 }, 400, 'INVALID_CURSOR'],
      ['empty cursor', { clientId: 'd', cursor: '' }, 400, 'INVALID_CURSOR'],
      ['no clientId', {}, 400, 'BAD_REQUEST'],
      ['clientId of the wrong type', { clientId: 7 }, 400, 'BAD_REQUEST'],
      ['limit as a string', { clientId: 'd', limit: '10' }, 400, 'BAD_REQUEST'],
      ['limit zero', { clientId: 'd', limit: 0 }, 400, 'BAD_REQUEST'],
      ['negative limit', { clientId: 'd', limit: -5 }, 400, 'BAD_REQUEST'],
      ['fractional limit', { clientId: 'd', limit: 1.5 }, 400, 'BAD_REQUEST'],
      [
        'unknown entity type',
        { clientId: 'd', entityTypes: ['STUDENT', 'PARENT'] },
        400,
        'UNKNOWN_ENTITY_TYPE',
      ],
      ['entityTypes not an array', { clientId: 'd', entityTypes: 'STUDENT' }, 400, 'BAD_REQUEST'],
      ['empty entityTypes', { clientId: 'd', entityTypes: [] }, 400, 'BAD_REQUEST'],
      ['bad lastSyncTimestamp', { clientId: 'd', lastSyncTimestamp: 'yesterday' }, 400, 'BAD_REQUEST'],
      [
        'lastSyncTimestamp in year 0',
        { clientId: 'd', lastSyncTimestamp: '0000-01-01T00:00:00Z' },
        400,
        'BAD_REQUEST',
      ],
      ['cursor epoch past int4', { clientId: 'd', cursor: 'c1.zzzzzzz.1' }, 400, 'INVALID_CURSOR'],
      ['cursor past int8 safe range', { clientId: 'd', cursor: 'c1.0.zzzzzzzzzzz' }, 400, 'INVALID_CURSOR'],
      ['limit past int4 (capped)', { clientId: 'd', limit: 2 ** 31 }, 200, undefined],
      ['limit not finite', '{"clientId":"d","limit":1e400}', 400, 'BAD_REQUEST'],
      ['clientId too long', { clientId: 'x'.repeat(201) }, 400, 'BAD_REQUEST'],
      ['several bad fields', { clientId: 3, limit: -1 }, 400, 'BAD_REQUEST'],
      ['non-JSON body', '{"clientId": ', 400, 'INVALID_JSON'],
      ['empty JSON body', '', 400, 'INVALID_JSON'],
      ['prototype poisoning', '{"clientId":"d","__proto__":{"x":1}}', 400, 'INVALID_JSON'],
      ['JSON array', '[1, 2]', 400, 'BAD_REQUEST'],
      ['JSON string', '"down"', 400, 'BAD_REQUEST'],
      ['JSON number', '42', 400, 'BAD_REQUEST'],
      ['JSON null', 'null', 400, 'BAD_REQUEST'],
    ];
    for (const [name, body, status, code] of cases) {
      const response = await server.post('/api/sync/down', body, { token });
      expect({ name, status: response.status, code: (response.body as { code?: string })?.code }).toEqual({
        name,
        status,
        code,
      });
      if (status !== 200) {
        expect(response.body).toMatchObject({ statusCode: status, message: expect.any(String) as string });
      }
    }

    const bad = await server.post('/api/sync/down', { clientId: 3, limit: -1 }, { token });
    expect((bad.body as { details: { field: string }[] }).details.map((d) => d.field).sort()).toEqual([
      'clientId',
      'limit',
    ]);

    const plain = await fetch(`${server.url}/api/sync/down`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'clientId=d',
    });
    expect(plain.status).toBe(415);
    expect(await plain.json()).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });

    const large = await server.post(
      '/api/sync/down',
      { clientId: 'd', padding: 'x'.repeat(200_000) },
      { token },
    );
    expect(large.status).toBe(413);
    expect(large.body).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
  });

  it('400 random bodies of every shape to /down and /snapshot: never a 500, every error in the protocol shape', async () => {
    const a = await createTenant(db.pool);
    await insertEvents(db.pool, { tenantId: a, count: 3 });
    const token = await server.token(a);
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const scalars: unknown[] = [
      null,
      true,
      0,
      -1,
      1.5,
      2 ** 53,
      -(2 ** 63),
      '',
      'STUDENT',
      'c1.0.0',
      'c1.0.1',
      'c1.1.0',
      'c1.0.zzzzzzzzzz',
      '0000-01-01T00:00:00Z',
      '2024-01-01T00:00:00Z',
      '\u0000',
      'x'.repeat(5000),
      '6f1c0a52-9d0e-4c1e-8b7a-2a7f5b0c9d11',
    ];
    const value = (depth: number): unknown => {
      const roll = random();
      if (depth > 1 || roll < 0.7) return pick(scalars);
      if (roll < 0.85) return [value(depth + 1), value(depth + 1)];
      return { [pick(['clientId', 'cursor', 'x'])]: value(depth + 1) };
    };
    const fields = ['clientId', 'cursor', 'lastSyncTimestamp', 'entityTypes', 'limit', 'pageToken'];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const body: Record<string, unknown> = {};
      for (const field of fields) if (random() < 0.5) body[field] = value(0);
      if (random() < 0.6) body.clientId = 'fuzz';
      const path = i % 2 === 0 ? '/api/sync/down' : '/api/sync/snapshot';
      const response = await server.post(path, body, { token });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect({ body, status: response.status }).not.toMatchObject({ status: 500 });
      if (response.status !== 200) {
        expect(errorBodySchema.parse(response.body).statusCode).toBe(response.status);
      }
    }
    expect([...statuses.keys()].every((status) => [200, 400, 413].includes(status))).toBe(true);
  });

  it('a type the sync rules do not serve is an unknown entity type', async () => {
    const narrow = await startTestServer(db.pool, { entityTypes: ['STUDENT', 'CLASS'] });
    try {
      const a = await createTenant(db.pool);
      await insertEvents(db.pool, { tenantId: a, count: 2, entityType: 'TEACHER' });
      const students = await insertEvents(db.pool, { tenantId: a, count: 2, entityType: 'STUDENT' });
      const token = await narrow.token(a);
      const refused = await narrow.post(
        '/api/sync/down',
        { clientId: 'd', entityTypes: ['TEACHER'] },
        { token },
      );
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ code: 'UNKNOWN_ENTITY_TYPE' });
      // Without a filter only the served types come down.
      const all = await narrow.post('/api/sync/down', { clientId: 'd' }, { token });
      expect((all.body as SyncDownResponse).changes.map((c) => c.id)).toEqual(students.map(String));
    } finally {
      await narrow.close();
    }
  });

  it('a filtered reader racing a writer misses nothing: the cursor only moves past what the page saw', async () => {
    const a = await createTenant(db.pool);
    let writing = true;
    const written: number[] = [];
    const writer = (async () => {
      // One writer, one event per transaction, as capture commits batches: ids become visible in order.
      for (let i = 0; writing && i < 2000; i++) {
        const type = i % 3 === 0 ? 'STUDENT' : 'TEACHER';
        const [id] = await insertEvents(db.pool, { tenantId: a, count: 1, entityType: type });
        if (type === 'STUDENT') written.push(id!);
      }
    })();
    const seen: string[] = [];
    let cursor: string | null = null;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      const page = await down(a, { cursor, entityTypes: ['STUDENT'], limit: 5 });
      seen.push(...page.changes.map((c) => c.id));
      cursor = page.cursor;
    }
    writing = false;
    await writer;
    const rest = await drain(a, { cursor, entityTypes: ['STUDENT'], limit: 50 });
    seen.push(...rest.ids);
    expect(written.length).toBeGreaterThan(10);
    expect(seen).toEqual(written.map(String));
  });

  it('a field hidden after its changes were captured does not leave the server either', async () => {
    const hiding = await startTestServer(db.pool, { hiddenFields: { STUDENT: ['lastName', 'n'] } });
    try {
      const a = await createTenant(db.pool);
      await insertEvents(db.pool, { tenantId: a, count: 3, entityType: 'STUDENT' });
      await insertEvents(db.pool, { tenantId: a, count: 2, entityType: 'TEACHER' });
      const token = await hiding.token(a);
      const response = await hiding.post('/api/sync/down', { clientId: 'd' }, { token });
      const { changes } = syncDownResponseSchema.parse(response.body);
      expect(changes).toHaveLength(5);
      for (const change of changes.slice(0, 3)) {
        expect(Object.keys(change.payload).sort()).toEqual(['firstName', 'id', 'tenantId']);
      }
      for (const change of changes.slice(3)) expect(change.payload).toHaveProperty('lastName', 'Diallo');
    } finally {
      await hiding.close();
    }
  });

  it('each authenticated request writes one sync_log row, SUCCESS with its count or FAILED with the reason', async () => {
    const a = await createTenant(db.pool);
    await insertEvents(db.pool, { tenantId: a, count: 4 });
    const token = await server.token(a);
    await server.post('/api/sync/down', { clientId: 'desk-log', limit: 3 }, { token });
    await server.post('/api/sync/down', { clientId: 'desk-log', cursor: 'bad' }, { token });
    await server.post('/api/sync/down', '{oops', { token });
    // Failed authentication: no tenant, no row. The marker's row shows every earlier row has been written.
    await server.post('/api/sync/down', { clientId: 'desk-log' }, { token: 'not-a-token' });
    await server.post('/api/sync/down', { clientId: 'marker' }, { token });
    const rows = await waitFor(async () => {
      const result = await db.pool.query(
        `SELECT client_id, direction, status, events_count, error_message FROM sync_log
         WHERE tenant_id = $1 ORDER BY started_at`,
        [a],
      );
      return result.rows.some((r: { client_id: string }) => r.client_id === 'marker') && result.rows;
    });
    expect(rows).toEqual([
      { client_id: 'desk-log', direction: 'DOWN', status: 'SUCCESS', events_count: 3, error_message: null },
      {
        client_id: 'desk-log',
        direction: 'DOWN',
        status: 'FAILED',
        events_count: 0,
        error_message: expect.stringContaining('INVALID_CURSOR') as string,
      },
      {
        client_id: '',
        direction: 'DOWN',
        status: 'FAILED',
        events_count: 0,
        error_message: expect.stringContaining('INVALID_JSON') as string,
      },
      { client_id: 'marker', direction: 'DOWN', status: 'SUCCESS', events_count: 4, error_message: null },
    ]);
  });

  it('a desk that asks for gzip gets the same page compressed; one that does not gets plain JSON', async () => {
    const tenant = await createTenant(db.pool, 'Gzip school');
    await insertEvents(db.pool, { tenantId: tenant, count: 300 });
    const token = await server.token(tenant);
    // node:http, which (unlike fetch) leaves the body as it came over the wire.
    const raw = (acceptEncoding: string) =>
      new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
        const req = request(
          `${server.url}/api/sync/down`,
          {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${token}`,
              'accept-encoding': acceptEncoding,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ clientId: 'desk-gzip', cursor: null }));
      });
    const plain = await raw('identity');
    const zipped = await raw('gzip');
    expect(plain.encoding).toBeUndefined();
    expect(zipped.encoding).toBe('gzip');
    expect(zipped.body.length).toBeLessThan(plain.body.length / 3);
    const page = syncDownResponseSchema.parse(JSON.parse(gunzipSync(zipped.body).toString('utf8')));
    const same = syncDownResponseSchema.parse(JSON.parse(plain.body.toString('utf8')));
    expect(page.changes.map((c) => c.id)).toEqual(same.changes.map((c) => c.id));
    expect(page.changes).toHaveLength(300);
  });
});
