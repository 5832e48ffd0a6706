import type { FastifyInstance } from 'fastify';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capture } from '../server/capture/capture.ts';
import { parseSyncRules, type SyncRules } from '../server/config/rules.ts';
import type { ServiceFailure } from '../server/service.ts';
import { buildApp } from '../server/http/app.ts';
import { CAPTURE_RETRY_GRACE_MS } from '../server/http/routes/health.ts';
import { createTestDatabase, silentLog, waitFor, type TestDatabase } from './support/db.ts';
import { captureRules, setUpCapture } from './support/capture-env.ts';
import { TEST_JWT_SECRET } from './support/http.ts';

interface Health {
  status: string;
  capture?: { role: string; state: string; failingSince: string | null };
}

describe('/healthz follows capture', () => {
  let db: TestDatabase;
  let rules: SyncRules;
  let capture: Capture;
  let running: Promise<void>;
  let app: FastifyInstance;

  const health = async (): Promise<{ code: number; body: Health }> => {
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    return { code: response.statusCode, body: response.json<Health>() };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    rules = captureRules(db);
    await setUpCapture(db, rules);
  });

  afterAll(async () => {
    await capture?.stop();
    await running;
    await app?.close();
    await db?.drop();
  });

  it('a leader that cannot stream (another consumer holds the slot) stays ready for the grace period, then is not; ready again once it streams; not ready once capture has stopped', async () => {
    // Another consumer takes the slot first: every session of the capture fails ("slot is active").
    const squatter = new LogicalReplicationService(
      { connectionString: db.url },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    const squatting = new Promise<void>((resolve) => squatter.once('start', () => resolve()));
    squatter
      .subscribe(
        new PgoutputPlugin({ protoVersion: 1, publicationNames: ['sync_pub'] }),
        rules.capture.slotName,
      )
      .catch(() => undefined);
    await squatting;

    capture = new Capture(silentLog, { connectionString: db.url, pool: db.pool, rules });
    running = capture.run();
    app = await buildApp(silentLog, {
      pool: db.pool,
      rules,
      jwtSecret: TEST_JWT_SECRET,
      captureStatus: () => capture.status,
    });

    const failing = await waitFor(async () => {
      const h = await health();
      return h.body.capture?.state === 'retrying' ? h : null;
    });
    // Within the grace period a failing leader is still ready (a restart or a brief outage).
    expect(failing.body.capture).toMatchObject({ role: 'leader', failingSince: expect.any(String) });
    const unready = await waitFor(
      async () => {
        const h = await health();
        return h.code === 503 ? h : null;
      },
      { timeoutMs: CAPTURE_RETRY_GRACE_MS + 15_000, intervalMs: 250 },
    );
    expect(unready.body).toMatchObject({ status: 'unavailable', capture: { state: 'retrying' } });
    expect(Date.now() - Date.parse(unready.body.capture!.failingSince!)).toBeGreaterThanOrEqual(
      CAPTURE_RETRY_GRACE_MS,
    );

    await squatter.destroy();
    const back = await waitFor(
      async () => {
        const h = await health();
        return h.code === 200 && h.body.capture?.state === 'streaming' ? h : null;
      },
      { timeoutMs: 20_000 },
    );
    expect(back.body).toMatchObject({ status: 'ok', capture: { role: 'leader', failingSince: null } });

    await capture.stop();
    await running;
    expect(await health()).toMatchObject({ code: 503, body: { capture: { state: 'stopped' } } });
  }, 60_000);
});

describe('/healthz follows the supervised services', () => {
  it('is not ready while a service has failed and waits to be started again, and ready once it is', async () => {
    const db = await createTestDatabase();
    const failures: ServiceFailure[] = [];
    const app = await buildApp(silentLog, {
      pool: db.pool,
      rules: parseSyncRules({}),
      jwtSecret: TEST_JWT_SECRET,
      serviceFailures: () => failures,
    });
    try {
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      failures.push({ name: 'retention', since: new Date().toISOString(), restarts: 1, error: 'boom' });
      const failing = await app.inject({ method: 'GET', url: '/healthz' });
      expect(failing.statusCode).toBe(503);
      expect(failing.json()).toMatchObject({
        status: 'unavailable',
        failedServices: [{ name: 'retention' }],
      });
      failures.length = 0;
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await db.drop();
    }
  });
});
