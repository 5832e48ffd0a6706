import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../shared/protocol.ts';
import { signToken } from '../server/auth/tokens.ts';
import { Capture } from '../server/capture/capture.ts';
import type { SyncRules } from '../server/config/rules.ts';
import { buildApp, type CaptureSummary } from '../server/http/app.ts';
import { recreateSlot } from '../server/ops/slot.ts';
import { replicationStatusSchema, type ReplicationStatus } from '../server/ops/status-schema.ts';
import { createTestDatabase, silentLog, waitFor, type TestDatabase } from './support/db.ts';
import { captureRules, setUpCapture } from './support/capture-env.ts';
import { createTenant, listenOnLoopback } from './support/http.ts';

const SECRET = 'ops-status-test-secret-0123456789abcdef';

describe('replication status', () => {
  let db: TestDatabase;
  let rules: SyncRules;
  let capture: Capture;
  let tenantA: string;
  let tenantB: string;
  const apps: FastifyInstance[] = [];

  async function serve(captureStatus?: CaptureSummary): Promise<string> {
    const deps = { pool: db.pool, rules, jwtSecret: SECRET };
    const app = await buildApp(
      silentLog,
      captureStatus === undefined ? deps : { ...deps, captureStatus: () => captureStatus },
    );
    apps.push(app);
    return `http://127.0.0.1:${await listenOnLoopback(app)}`;
  }

  async function get(base: string, role: Role | null, tenantId = tenantA) {
    const headers: Record<string, string> = {};
    if (role !== null) {
      headers.authorization = `Bearer ${await signToken(SECRET, { sub: 'u', tenantId, role }, 600)}`;
    }
    const response = await fetch(`${base}/api/admin/replication`, { headers });
    const body: unknown = await response.json();
    return { status: response.status, body };
  }

  async function replication(base: string): Promise<ReplicationStatus> {
    const response = await get(base, 'dba');
    expect(response.status).toBe(200);
    return replicationStatusSchema.parse(response.body);
  }

  async function addStudents(tenantId: string, count: number): Promise<void> {
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name)
       SELECT $1, gen_random_uuid(), 'Moussa', 'Traoré ' || g FROM generate_series(1, $2::integer) g`,
      [tenantId, count],
    );
  }

  async function eventsOf(tenantId: string): Promise<number> {
    const result = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sync_events WHERE tenant_id = $1',
      [tenantId],
    );
    return result.rows[0]!.n;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    rules = captureRules(db);
    await setUpCapture(db, rules);
    tenantA = await createTenant(db.pool, 'School A');
    tenantB = await createTenant(db.pool, 'School B');
    capture = new Capture(silentLog, { connectionString: db.url, pool: db.pool, rules, identity: 'node-1' });
    void capture.run();
    await waitFor(() => capture.status.leader, { message: 'capture leads' });
    await addStudents(tenantA, 3);
    await addStudents(tenantB, 2);
    await waitFor(async () => (await eventsOf(tenantA)) === 3 && (await eventsOf(tenantB)) === 2, {
      message: 'initial rows captured',
    });
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await capture?.stop();
    await db?.drop();
  });

  it('GET /api/admin/replication gives a dba the slot, publication and capture facts, and only its own tenant log', async () => {
    const base = await serve();
    const status = await replication(base);
    expect(status.slot).toMatchObject({ name: rules.capture.slotName, exists: true, active: true });
    expect(status.slot.activePid).toEqual(expect.any(Number));
    expect(['reserved', 'extended']).toContain(status.slot.walStatus);
    expect(status.slot.restartLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(status.slot.confirmedFlushLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(status.slot.retainedBytes).toEqual(expect.any(Number));
    expect(status.slot.lagBytes).toEqual(expect.any(Number));
    expect(status.publication.name).toBe('sync_pub');
    expect(status.publication.tables.map((t) => t.name)).toContain('grades');
    expect(status.capture).toMatchObject({ leader: 'node-1', leaderConnected: true, eventsStored: 5 });
    expect(status.capture.lastLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(status.log.rows).toBe(5);
    expect(status.log.tenants).toEqual([
      expect.objectContaining({ tenantId: tenantA, name: 'School A', epoch: 0, floorId: 0 }),
    ]);
    expect(status.warnings).toEqual([]);
  });

  it('the route is for dba and admin only: a desk gets 403 FORBIDDEN, no token 401', async () => {
    const base = await serve();
    expect((await get(base, 'admin')).status).toBe(200);
    const desk = await get(base, 'desk');
    expect(desk).toEqual({ status: 403, body: expect.objectContaining({ code: 'FORBIDDEN' }) as unknown });
    expect((await get(base, null)).status).toBe(401);
  });

  it('events/s comes from two readings of capture progress, or from the live capture while it leads', async () => {
    const base = await serve();
    const first = await replication(base);
    expect(first.capture.eventsPerSecond).toBeNull();
    await addStudents(tenantA, 40);
    await waitFor(async () => (await eventsOf(tenantA)) === 43, { message: '40 more captured' });
    const later = await waitFor(
      async () => {
        const status = await replication(base);
        return status.capture.eventsPerSecond !== null ? status : null;
      },
      { timeoutMs: 5_000, intervalMs: 200, message: 'a rate' },
    );
    expect(later.capture.eventsPerSecond).toBeGreaterThan(0);

    const live = await serve({
      state: 'streaming',
      failingSince: null,
      leader: true,
      eventsPerSecond: 42,
      lastStoredLsn: null,
      queuedRows: 0,
    });
    expect((await replication(live)).capture.eventsPerSecond).toBe(42);
  });

  it('slot recreate while capture streams ends the walsender; capture resumes on the new slot and captures the next change', async () => {
    const before = await db.pool.query<{ pid: number; lsn: string }>(
      'SELECT active_pid AS pid, confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [rules.capture.slotName],
    );
    expect(before.rows[0]!.pid).toEqual(expect.any(Number));
    const restart = await recreateSlot(db.pool, silentLog, rules.capture.slotName, 'test: recreate');
    expect(restart).toMatchObject({ previous: 'ok', tenants: 2 });
    const epochs = await db.pool.query<{ epoch: number }>(
      'SELECT epoch FROM sync_tenant_log ORDER BY tenant_id',
    );
    // Capture's own recovery may also see the slot missing in between and bump once more.
    for (const { epoch } of epochs.rows) expect(epoch).toBeGreaterThanOrEqual(1);

    const eventsBefore = await eventsOf(tenantB);
    await addStudents(tenantB, 1);
    await waitFor(async () => (await eventsOf(tenantB)) === eventsBefore + 1, {
      timeoutMs: 20_000,
      message: 'capture resumed on the new slot',
    });
    const after = await db.pool.query<{ pid: number | null }>(
      'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
      [rules.capture.slotName],
    );
    expect(after.rows[0]!.pid).not.toBe(before.rows[0]!.pid);
  });
});
