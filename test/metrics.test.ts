import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../server/auth/tokens.ts';
import { ensureSlot } from '../server/capture/setup.ts';
import { parseSyncRules } from '../server/config/rules.ts';
import { createPool, type Pool } from '../server/db/pool.ts';
import { buildApp, type AppDeps } from '../server/http/app.ts';
import { SyncMetrics } from '../server/metrics/sync-metrics.ts';
import type { OutboxEvent } from '../shared/protocol.ts';
import { createTestDatabase, silentLog, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, listenOnLoopback, TEST_JWT_SECRET } from './support/http.ts';

/** Every sample of a Prometheus text body: name, labels, value. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    out.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return out;
}

/** The value of the sample named `name` whose labels include `labels`; undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples(text).find(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  )?.value;
}

interface Node {
  url: string;
  app: FastifyInstance;
  metrics: SyncMetrics;
  scrape(): Promise<string>;
  post(path: string, body: unknown, token: string): Promise<{ status: number; body: unknown }>;
}

async function startNode(pool: Pool, deps: Partial<AppDeps> = {}): Promise<Node> {
  const metrics = deps.metrics ?? new SyncMetrics(silentLog);
  const rules = parseSyncRules({});
  const app = await buildApp(silentLog, { pool, rules, jwtSecret: TEST_JWT_SECRET, ...deps, metrics });
  const url = `http://127.0.0.1:${await listenOnLoopback(app)}`;
  return {
    url,
    app,
    metrics,
    async scrape() {
      const response = await fetch(`${url}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    },
    async post(path, body, token) {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    },
  };
}

describe('GET /metrics', () => {
  let db: TestDatabase;
  let node: Node;
  let tenant: string;
  let token: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    const rules = parseSyncRules({});
    await ensureSlot(db.pool, rules.capture.slotName);
    await db.pool.query(
      `UPDATE sync_capture_state SET last_commit_time = now() - interval '5 seconds' WHERE slot_name = $1`,
      [rules.capture.slotName],
    );
    node = await startNode(db.pool, {
      captureStatus: () => ({
        state: 'streaming',
        failingSince: null,
        leader: true,
        eventsPerSecond: 12.5,
        lastStoredLsn: '0/16B3748',
        queuedRows: 3,
      }),
    });
    tenant = await createTenant(db.pool);
    token = await signToken(TEST_JWT_SECRET, { sub: 'user-desk', tenantId: tenant, role: 'desk' }, 3600);
  });
  afterAll(async () => {
    await node.app.close();
    await db.drop();
  });

  it('/metrics answers 200 in Prometheus text without a token, with every named metric', async () => {
    node.metrics.setDeskSource(() => ({ connections: 7, acking: 5, maxLagEvents: 42 }));
    node.metrics.observePushLatency(0.2);
    node.metrics.setSlotWarning({ level: 'warning' });
    const response = await fetch(`${node.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();

    expect(sample(text, 'sync_capture_lag_bytes')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'sync_capture_retained_wal_bytes')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'sync_capture_lag_seconds')).toBeGreaterThanOrEqual(4);
    expect(sample(text, 'sync_events_rows')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'sync_capture_leader')).toBe(1);
    expect(sample(text, 'sync_capture_events_per_second')).toBe(12.5);
    expect(sample(text, 'sync_capture_queued_rows')).toBe(3);
    expect(sample(text, 'sync_desks_connected')).toBe(7);
    expect(sample(text, 'sync_desks_acking')).toBe(5);
    expect(sample(text, 'sync_desk_lag_events_max')).toBe(42);
    expect(sample(text, 'sync_push_latency_seconds_count')).toBe(1);
    expect(sample(text, 'sync_push_latency_seconds_bucket', { le: '0.25' })).toBe(1);
    expect(sample(text, 'sync_slot_wal_level')).toBe(1);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    for (const name of ['sync_upload_events_total', 'sync_log_failures_total', 'sync_metrics_errors_total']) {
      expect(text).toContain(`# TYPE ${name} counter`);
    }
    expect(text).toContain('# TYPE sync_http_request_duration_seconds histogram');
    // Capture's summary here has no events count: the counter is omitted rather than reported as 0.
    expect(sample(text, 'sync_capture_events_stored_total')).toBeUndefined();
  });

  it('an upload moves sync_upload_events_total by outcome and code, one per event', async () => {
    const before = await node.scrape();
    const yearId = randomUUID();
    const base = { localVersion: 0, createdAt: new Date().toISOString(), attemptCount: 0 };
    const events: OutboxEvent[] = [
      {
        ...base,
        id: randomUUID(),
        tenantId: tenant,
        entityType: 'ACADEMIC_YEAR',
        entityId: yearId,
        operation: 'CREATE',
        payload: {
          id: yearId,
          tenantId: tenant,
          label: '2025',
          startDate: '2025-09-01',
          endDate: '2026-07-01',
        },
      },
      {
        ...base,
        id: randomUUID(),
        tenantId: randomUUID(),
        entityType: 'SCHOOL_LEVEL',
        entityId: randomUUID(),
        operation: 'CREATE',
        payload: {},
      },
      {
        ...base,
        id: randomUUID(),
        tenantId: tenant,
        entityType: 'ACADEMIC_YEAR',
        entityId: randomUUID(),
        operation: 'UPDATE',
        localVersion: 3,
        payload: { label: '2026' },
      },
    ];
    const response = await node.post('/api/sync/up', { clientId: 'desk-m2', events }, token);
    expect(response.status).toBe(200);
    const answer = response.body as {
      acknowledged: unknown[];
      conflicts: unknown[];
      rejected: { code: string }[];
    };
    expect([answer.acknowledged.length, answer.conflicts.length, answer.rejected.length]).toEqual([1, 1, 1]);
    expect(answer.rejected[0]?.code).toBe('TENANT_MISMATCH');

    const after = await node.scrape();
    const delta = (labels: Record<string, string>) =>
      (sample(after, 'sync_upload_events_total', labels) ?? 0) -
      (sample(before, 'sync_upload_events_total', labels) ?? 0);
    expect(delta({ outcome: 'acknowledged', code: 'OK' })).toBe(1);
    expect(delta({ outcome: 'conflict', code: 'CONFLICT' })).toBe(1);
    expect(delta({ outcome: 'rejected', code: 'TENANT_MISMATCH' })).toBe(1);
  });

  it('a failing /down (bad cursor) moves sync_log_failures_total{direction="DOWN"} by one', async () => {
    const failures = async () =>
      sample(await node.scrape(), 'sync_log_failures_total', { direction: 'DOWN' }) ?? 0;
    const before = await failures();
    const response = await node.post(
      '/api/sync/down',
      { clientId: 'desk-m3', cursor: 'not-a-cursor' },
      token,
    );
    expect(response.status).toBe(400);
    // The row (and the count) are written once the answer has left.
    await waitFor(async () => (await failures()) === before + 1, { message: 'DOWN failure counted' });
    const rows = await db.pool.query(
      `SELECT count(*)::int AS n FROM sync_log WHERE client_id = 'desk-m3' AND status = 'FAILED'`,
    );
    expect(rows.rows[0]).toEqual({ n: 1 });
  });

  it('request durations are labelled by route pattern, never by the raw URL', async () => {
    const id = randomUUID();
    const response = await node.post(
      `/api/sync/conflicts/${id}/resolve`,
      { choice: 'ACCEPT_SERVER', serverVersion: 1 },
      token,
    );
    expect(response.status).toBe(404);
    await waitFor(async () =>
      sample(await node.scrape(), 'sync_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/api/sync/conflicts/:outboxEventId/resolve',
        status_code: '404',
      }),
    );
    expect(await node.scrape()).not.toContain(id);
  });

  it('a scrape never fails: a database or source error omits those metrics and counts the error', async () => {
    const broken = createPool(db.url, { max: 1, application: 'metrics-broken' });
    await broken.end();
    const other = await startNode(broken, {
      captureStatus: () => {
        throw new Error('capture status unavailable');
      },
    });
    try {
      const text = await other.scrape();
      for (const name of ['sync_capture_lag_bytes', 'sync_capture_lag_seconds', 'sync_events_rows']) {
        expect(sample(text, name), name).toBeUndefined();
        expect(text, name).toContain(`# TYPE ${name} gauge`);
      }
      expect(sample(text, 'sync_capture_leader')).toBeUndefined();
      expect(sample(text, 'sync_metrics_errors_total', { source: 'database' })).toBe(1);
      expect(sample(text, 'sync_metrics_errors_total', { source: 'capture' })).toBe(1);
      // Each app has its own registry: the first node's uploads are not counted here.
      expect(sample(text, 'sync_upload_events_total')).toBeUndefined();
    } finally {
      await other.app.close();
    }
  });
});
