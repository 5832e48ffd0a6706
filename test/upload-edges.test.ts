import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxEvent, SyncUpResponse } from '../shared/protocol.ts';
import { isStorableText } from '../shared/text.ts';
import { createPool, type Pool } from '../server/db/pool.ts';
import { pruneLogs } from '../server/ops/retention.ts';
import { parseSyncRules } from '../server/config/rules.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, startTestServer, type TestServer } from './support/http.ts';

type Body = Record<string, unknown>;

/** Where a test body carries JSON nested `DEEP_LEVELS` deep: JSON.stringify itself cannot write it. */
const DEEP = '"(deep)"';
const DEEP_LEVELS = 5000;
const deepJson = `${'{"a":['.repeat(DEEP_LEVELS)}"bottom"${']}'.repeat(DEEP_LEVELS)}`;

/** The server's pool gives up on a lock after 300 ms, as a busy database would time a statement out. */
function impatientPool(url: string): Pool {
  const u = new URL(url);
  u.searchParams.set('options', '-c lock_timeout=300');
  return createPool(u.toString(), { max: 5, application: 'impatient', onIdleError: () => undefined });
}

describe('upload edges: hostile values, transient failures, writable fields', () => {
  let db: TestDatabase;
  let pool: Pool;
  let server: TestServer;
  let tenant: string;
  let token: string;

  const student = (payload: Body = {}, overrides: Partial<OutboxEvent> = {}): OutboxEvent => {
    const entityId = overrides.entityId ?? randomUUID();
    return {
      id: randomUUID(),
      tenantId: tenant,
      entityType: 'STUDENT',
      entityId,
      operation: 'CREATE',
      payload: { firstName: 'Awa', lastName: 'Diallo', ...payload },
      localVersion: 0,
      createdAt: new Date().toISOString(),
      attemptCount: 0,
      ...overrides,
    };
  };
  const up = async (events: unknown[], clientId: unknown = 'desk-edges') => {
    const body = JSON.stringify({ clientId, events }).replaceAll(DEEP, deepJson);
    const response = await server.post('/api/sync/up', body, { token });
    return response as { status: number; body: SyncUpResponse & Body; text: string };
  };
  const rowCount = async (ids: string[]): Promise<number> => {
    const r = await db.pool.query('SELECT count(*)::int AS n FROM students WHERE id = ANY($1::uuid[])', [
      ids,
    ]);
    return r.rows[0].n as number;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = impatientPool(db.url);
    server = await startTestServer(pool);
    tenant = await createTenant(db.pool);
    token = await server.token(tenant);
  });
  afterAll(async () => {
    await server.close();
    await pool.end();
    await db.drop();
  });

  it('hostile values in one event reject that event only, with a reason naming the field; the rest apply and every answer is stored', async () => {
    const good = [student(), student({ notes: 'é🎓'.repeat(1000) })];
    const bad: [OutboxEvent, string, RegExp][] = [
      [{ ...student(), tenantId: `${tenant}\u0000` }, 'TENANT_MISMATCH', /^tenantId: /],
      [{ ...student(), tenantId: '\ud800' }, 'TENANT_MISMATCH', /^tenantId: "\\\\ud800"/],
      [{ ...student(), entityType: 'STUDENT\u0000' }, 'UNKNOWN_ENTITY_TYPE', /^entityType: /],
      [
        { ...student(), entityType: `\udfff${'X'.repeat(500)}` },
        'UNKNOWN_ENTITY_TYPE',
        /^entityType: "\\\\udfff/,
      ],
      [student({ firstName: 'A\u0000wa' }), 'VALIDATION', /^payload\.firstName: must not contain the NUL/],
      [student({ lastName: 'Di\ud800allo' }), 'VALIDATION', /^payload\.lastName: .*lone UTF-16 surrogate/],
      [student({ ['k\u0000ey']: 'x' }), 'VALIDATION', /^payload\["k\\\\u0000ey"\]/],
      [student({ extra: JSON.parse(DEEP) }), 'VALIDATION', /^payload\.extra.*nested deeper than 16 levels/],
      [student({ firstName: 'x'.repeat(1024 * 1024) }), 'VALIDATION', /^payload\.firstName: /],
      [student({ birthDate: '0000-02-29' }), 'VALIDATION', /^payload\.birthDate: /],
      [student({ classId: 'not-a-uuid' }), 'VALIDATION', /^payload\.classId: /],
    ];
    const batch = [good[0]!, ...bad.map(([event]) => event), good[1]!];
    const first = await up(batch);
    expect(first.status).toBe(200);
    expect(first.body.acknowledged.map((a) => a.outboxEventId)).toEqual(good.map((e) => e.id));
    expect(first.body.rejected).toHaveLength(bad.length);
    for (const [index, [event, code, reason]] of bad.entries()) {
      const rejected = first.body.rejected[index]!;
      expect(rejected, `bad event #${index}`).toMatchObject({ outboxEventId: event.id, code });
      expect(rejected.reason, `bad event #${index}`).toMatch(reason);
      expect(isStorableText(rejected.reason)).toBe(true);
      expect(rejected.reason.length).toBeLessThan(400);
    }
    expect(await rowCount(good.map((e) => e.entityId))).toBe(2);
    expect(await rowCount(bad.map(([e]) => e.entityId))).toBe(0);

    // Stored, audited, and the same answer again for the same batch.
    const stored = await db.pool.query(
      'SELECT count(*)::int AS n FROM sync_upload_results WHERE tenant_id = $1',
      [tenant],
    );
    expect(stored.rows[0].n).toBe(batch.length);
    const audit = await db.pool.query<{ entity_type: string }>(
      `SELECT entity_type FROM sync_audit WHERE outbox_event_id = $1`,
      [bad[3]![0].id],
    );
    expect(audit.rows[0]?.entity_type).toMatch(/^\\udfffXXX/);
    const again = await up(batch);
    expect(again.status).toBe(200);
    expect({ ...again.body, syncTimestamp: '' }).toEqual({ ...first.body, syncTimestamp: '' });
  });

  it('numbers at the edges: what fits its column is applied, what does not is rejected, and a version over 2^53 is a 400', async () => {
    const levels = [
      { rank: -0, ok: true },
      { rank: 2 ** 31 - 1, ok: true },
      { rank: 2 ** 40, ok: false },
      { rank: 1e308, ok: false },
      { rank: 1.5, ok: false },
    ].map(({ rank, ok }) => ({
      ok,
      event: {
        ...student(),
        entityType: 'SCHOOL_LEVEL',
        payload: { name: `Level ${rank}`, rank },
      } satisfies OutboxEvent,
    }));
    const response = await up(levels.map((l) => l.event));
    expect(response.status).toBe(200);
    expect(response.body.acknowledged.map((a) => a.outboxEventId)).toEqual(
      levels.filter((l) => l.ok).map((l) => l.event.id),
    );
    for (const entry of response.body.rejected) expect(entry.reason).toMatch(/^payload\.rank: /);

    const tooBig = await server.post(
      '/api/sync/up',
      `{"clientId":"d","events":[${JSON.stringify({ ...student(), localVersion: 0 }).replace('"localVersion":0', '"localVersion":9223372036854775808')}]}`,
      { token },
    );
    expect(tooBig.status).toBe(400);
    expect((tooBig.body as Body).code).toBe('BAD_REQUEST');
  });

  it('a clientId Postgres cannot hold is a 400 on every sync route, and its sync_log row is stored escaped', async () => {
    for (const clientId of ['desk\u0000', '\ud800desk']) {
      for (const path of ['/api/sync/up', '/api/sync/down', '/api/sync/snapshot', '/api/sync/checksum']) {
        const body = path === '/api/sync/up' ? { clientId, events: [student()] } : { clientId };
        const response = await server.post(path, body, { token });
        expect(response.status, `${path} ${JSON.stringify(clientId)}`).toBe(400);
        expect((response.body as Body).code).toBe('BAD_REQUEST');
      }
    }
    await waitFor(async () => {
      const logged = await db.pool.query(
        `SELECT count(*)::int AS n FROM sync_log WHERE tenant_id = $1 AND client_id IN ('desk\\u0000', '\\ud800desk')`,
        [tenant],
      );
      return logged.rows[0].n === 6;
    });
  });

  it('a database that cannot take the lock in time answers 503 UNAVAILABLE with Retry-After, stores nothing, and the same batch applies later', async () => {
    const batch = [student(), student()];
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE students IN ACCESS EXCLUSIVE MODE');
      const refused = await up(batch);
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ statusCode: 503, code: 'UNAVAILABLE' });
      const down = await server.post(
        '/api/sync/snapshot',
        { clientId: 'desk-edges', entityTypes: ['STUDENT'] },
        { token },
      );
      expect(down.status).toBe(503);
      expect((down.body as Body).code).toBe('UNAVAILABLE');
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
    const response = await fetch(`${server.url}/api/sync/up`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ clientId: 'desk-edges', events: batch }),
    });
    expect(response.status).toBe(200);
    const stored = await db.pool.query(
      `SELECT outcome FROM sync_upload_results WHERE outbox_event_id = ANY($1::uuid[])`,
      [batch.map((e) => e.id)],
    );
    expect(stored.rows.map((r) => r.outcome)).toEqual(['ACKNOWLEDGED', 'ACKNOWLEDGED']);
  });

  it('503 answers carry Retry-After', async () => {
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE sync_upload_results IN ACCESS EXCLUSIVE MODE');
      const response = await fetch(`${server.url}/api/sync/up`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ clientId: 'desk-edges', events: [student()] }),
      });
      expect(response.status).toBe(503);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await response.json()) as Body).code).toBe('UNAVAILABLE');
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
  });

  it('a CREATE that races another writer inserting the same id is a conflict showing that row, not a rejection', async () => {
    const event = student({ firstName: 'Desk' });
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO students (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'Web', 'App')`,
        [tenant, event.entityId],
      );
      const pending = up([event]);
      // The upload's INSERT waits on the web app's uncommitted row with the same key.
      await waitFor(async () => {
        const waiting = await db.pool.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'impatient' AND wait_event_type = 'Lock'`,
        );
        return waiting.rows[0].n > 0;
      });
      await writer.query('COMMIT');
      const response = await pending;
      expect(response.status).toBe(200);
      expect(response.body.rejected).toEqual([]);
      expect(response.body.conflicts).toEqual([
        {
          outboxEventId: event.id,
          reason: expect.stringContaining('already exists'),
          serverData: expect.objectContaining({ id: event.entityId, firstName: 'Web' }),
        },
      ]);
    } finally {
      await writer.end();
    }
  });

  it('a column the web app adds is not writable from desks until the sync rules list it', async () => {
    await db.pool.query('ALTER TABLE students ADD COLUMN IF NOT EXISTS nickname text');
    const ignored = student({ nickname: 'Titi' });
    expect((await up([ignored])).body.acknowledged).toHaveLength(1);
    const listed = await startTestServer(pool, {
      writableFields: { STUDENT: ['firstName', 'lastName', 'birthDate', 'classId', 'notes', 'nickname'] },
    });
    try {
      const written = student({ nickname: 'Zaza' });
      const response = await listed.post('/api/sync/up', { clientId: 'd', events: [written] }, { token });
      expect((response.body as SyncUpResponse).acknowledged).toHaveLength(1);
      const rows = await db.pool.query<{ id: string; nickname: string | null }>(
        'SELECT id, nickname FROM students WHERE id = ANY($1::uuid[])',
        [[ignored.entityId, written.entityId]],
      );
      const nickname = new Map(rows.rows.map((r) => [r.id, r.nickname]));
      expect(nickname.get(ignored.entityId)).toBeNull();
      expect(nickname.get(written.entityId)).toBe('Zaza');
    } finally {
      await listed.close();
    }
    expect(() => parseSyncRules({ writableFields: { STUDENT: ['firstName'] } })).toThrow(
      /writableFields\.STUDENT: must list the required fields lastName/,
    );
    expect(() => parseSyncRules({ writableFields: { STUDENT: ['firstName', 'lastName', 'id'] } })).toThrow(
      /writableFields\.STUDENT\.2/,
    );
  });

  it('stored upload answers are pruned with the audit retention', async () => {
    const old = student();
    expect((await up([old])).status).toBe(200);
    await db.pool.query(
      `UPDATE sync_upload_results SET created_at = now() - interval '400 days' WHERE outbox_event_id = $1`,
      [old.id],
    );
    const kept = await pruneLogs(db.pool, parseSyncRules({ retention: { auditDays: 0 } }));
    expect(kept.uploadResults).toEqual({ cutoff: null, deleted: 0 });
    const pruned = await pruneLogs(db.pool, parseSyncRules({ retention: { auditDays: 365 } }));
    expect(pruned.uploadResults.deleted).toBe(1);
    const left = await db.pool.query('SELECT 1 FROM sync_upload_results WHERE outbox_event_id = $1', [
      old.id,
    ]);
    expect(left.rowCount).toBe(0);
  });
});
