import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureWaiter } from '../server/log/capture-wait.ts';
import { buildApp } from '../server/http/app.ts';
import { SyncMetrics } from '../server/metrics/sync-metrics.ts';
import { checksumOf } from '../shared/checksum.ts';
import { createTestDatabase, silentLog, type TestDatabase } from './support/db.ts';
import { DeskTestServer } from './support/desk-server.ts';
import { createTenant, TEST_JWT_SECRET } from './support/http.ts';

describe('bounded cost of /checksum, /healthz and /metrics', () => {
  let db: TestDatabase;
  let server: DeskTestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = new DeskTestServer(db);
    await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('concurrent checksum requests all answer the same correct figures, covering what was committed before them', async () => {
    const tenant = await createTenant(db.pool);
    const token = await server.token(tenant);
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name)
       SELECT $1, gen_random_uuid(), 'Awa', 'N' || g FROM generate_series(1, 200) g`,
      [tenant],
    );
    const answers = await Promise.all(
      Array.from({ length: 25 }, () =>
        fetch(`${server.url}/api/sync/checksum`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ clientId: 'desk-1', entityTypes: ['STUDENT'] }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> })),
      ),
    );
    const rows = await db.pool.query<{ id: string; server_version: number }>(
      'SELECT id::text, server_version FROM students WHERE tenant_id = $1',
      [tenant],
    );
    const expected = { STUDENT: checksumOf(rows.rows.map((r) => [r.id, r.server_version] as const)) };
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.checksums).toEqual(expected);
    }
    // The log covered the 200 inserts before answering: the cursor is past their changes.
    const tail = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sync_events WHERE tenant_id = $1',
      [tenant],
    );
    expect(tail.rows[0]!.n).toBe(200);
    expect(new Set(answers.map((a) => a.body.cursor)).size).toBe(1);
  });

  it('callers waiting on one node share one WAL mark and one progress read per round', async () => {
    const waiter = new CaptureWaiter(db.pool, { slotName: server.rules.capture.slotName });
    await Promise.all(Array.from({ length: 30 }, () => waiter.wait({ timeoutMs: 10_000 })));
    expect(waiter.stats.marks).toBe(1);
    expect(waiter.stats.rounds).toBeLessThan(30);
    await waiter.wait({ timeoutMs: 10_000 });
    expect(waiter.stats.marks).toBe(2);
  });

  it('a wait capture cannot meet ends NOT_READY, not hanging', async () => {
    const waiter = new CaptureWaiter(db.pool, { slotName: 'no_such_slot' });
    await expect(waiter.wait({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'NOT_READY' });
  });

  it('/healthz probes close together share one database check', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${server.url}/healthz`).then((r) => r.json() as Promise<{ databaseCheckedAt: string }>),
      ),
    );
    expect(new Set(answers.map((a) => a.databaseCheckedAt)).size).toBe(1);
    expect(answers[0]!.databaseCheckedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('/metrics scrapes close together share one reading of the database facts', async () => {
    const metrics = new SyncMetrics(silentLog);
    const app = await buildApp(silentLog, {
      pool: db.pool,
      rules: server.rules,
      jwtSecret: TEST_JWT_SECRET,
      metrics,
    });
    try {
      const scrapes = await Promise.all(
        Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: '/metrics' })),
      );
      for (const scrape of scrapes) {
        expect(scrape.statusCode).toBe(200);
        expect(scrape.body).toContain('sync_capture_retained_wal_bytes');
      }
      expect(metrics.databaseReads).toBe(1);
    } finally {
      await app.close();
    }
  });
});
