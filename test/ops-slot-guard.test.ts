import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capture } from '../server/capture/capture.ts';
import { ensurePublication, ensureSlot } from '../server/capture/setup.ts';
import { parseSyncRules, type SyncRules } from '../server/config/rules.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../server/db/embedded.ts';
import { migrate } from '../server/db/migrate.ts';
import { createPool, type Pool } from '../server/db/pool.ts';
import { decodeCursor } from '../server/log/cursor.ts';
import { SlotGuard, type SlotWarning } from '../server/ops/slot-guard.ts';
import type { SlotRestart } from '../server/ops/slot.ts';
import { silentLog, waitFor } from './support/db.ts';
import { startTestServer, type TestServer } from './support/http.ts';
import {
  snapshotResponseSchema,
  syncDownResponseSchema,
  type Change,
  type ErrorBody,
} from '../shared/protocol.ts';

// A cluster of its own: a 1 MB max_slot_wal_keep_size would make the shared cluster's other slots lossy.
const FLAGS = [
  ...['-c', 'fsync=off', '-c', 'synchronous_commit=off'],
  ...['-c', 'max_slot_wal_keep_size=1MB', '-c', 'min_wal_size=32MB', '-c', 'max_wal_size=64MB'],
];

/** The part of a desk that matters here: entity id → serverVersion, applied by the protocol's rule. */
class Desk {
  readonly rows = new Map<string, number>();
  cursor: string | null = null;

  apply(changes: Change[], cursor: string): void {
    for (const change of changes) {
      const local = this.rows.get(change.entityId) ?? 0;
      if (change.serverVersion <= local) continue;
      if (change.operation === 'DELETE') this.rows.delete(change.entityId);
      else this.rows.set(change.entityId, change.serverVersion);
    }
    this.cursor = cursor;
  }
}

/** Ends the pool and waits until every connection is closed, before the cluster stops under them. */
async function endPool(pool: Pool): Promise<void> {
  let open = pool.totalCount;
  const closed = new Promise<void>((resolve) => {
    if (open === 0) resolve();
    pool.on('remove', () => {
      if (--open === 0) resolve();
    });
  });
  await pool.end();
  await closed;
}

describe('slot guard', () => {
  let dir: string;
  let cluster: EmbeddedPostgresHandle;
  let url: string;
  let pool: Pool;
  let rules: SyncRules;
  const tenant = randomUUID();
  const logs: { level: number; msg: string }[] = [];
  const captures: Capture[] = [];
  let server: TestServer;
  let deskToken: string;

  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          logs.push(JSON.parse(line) as { level: number; msg: string });
        }
        done();
      },
    }),
  );

  async function startCapture(): Promise<Capture> {
    const capture = new Capture(log.child({ component: 'capture' }), { connectionString: url, pool, rules });
    captures.push(capture);
    void capture.run();
    await waitFor(() => capture.status.leader, { message: 'capture leads' });
    return capture;
  }

  async function slot(): Promise<{ wal_status: string; confirmed_flush_lsn: string } | undefined> {
    const result = await pool.query<{ wal_status: string; confirmed_flush_lsn: string }>(
      'SELECT wal_status, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
      [rules.capture.slotName],
    );
    return result.rows[0];
  }

  async function serverRows(): Promise<Map<string, number>> {
    const result = await pool.query<{ id: string; server_version: number }>(
      'SELECT id::text, server_version FROM students WHERE tenant_id = $1',
      [tenant],
    );
    return new Map(result.rows.map((r) => [r.id, r.server_version]));
  }

  async function addStudents(count: number): Promise<void> {
    await pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name)
       SELECT $1, gen_random_uuid(), 'Awa', 'Diallo ' || g FROM generate_series(1, $2::integer) g`,
      [tenant, count],
    );
  }

  /** Catch-up through /api/sync/down until hasMore is false; the error code if the log refuses the cursor. */
  async function catchUp(desk: Desk): Promise<string> {
    for (;;) {
      const response = await server.post(
        '/api/sync/down',
        { clientId: 'desk-1', cursor: desk.cursor, limit: 100 },
        { token: deskToken },
      );
      if (response.status !== 200) return (response.body as ErrorBody).code ?? String(response.status);
      const body = syncDownResponseSchema.parse(response.body);
      desk.apply(body.changes, body.cursor);
      if (!body.hasMore) return 'OK';
    }
  }

  /** Bootstraps the desk from /api/sync/snapshot, every page. */
  async function snapshot(desk: Desk): Promise<void> {
    let pageToken: string | undefined;
    do {
      const response = await server.post(
        '/api/sync/snapshot',
        { clientId: 'desk-1', limit: 50, ...(pageToken === undefined ? {} : { pageToken }) },
        { token: deskToken },
      );
      expect(response.status, response.text).toBe(200);
      const body = snapshotResponseSchema.parse(response.body);
      desk.apply(body.changes, body.cursor);
      pageToken = body.pageToken;
    } while (pageToken !== undefined);
  }

  /** Capture stopped: writes elsewhere, switches segments and checkpoints until Postgres drops the slot. */
  async function loseSlot(): Promise<void> {
    await waitFor(
      async () => {
        await pool.query(`INSERT INTO scratch (body) SELECT repeat('x', 500) FROM generate_series(1, 2000)`);
        await pool.query('SELECT pg_switch_wal()');
        await pool.query('CHECKPOINT');
        return (await slot())?.wal_status === 'lost';
      },
      { timeoutMs: 20_000, intervalMs: 10, message: 'slot lost' },
    );
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sync-slot-guard-'));
    cluster = await startEmbeddedPostgres({ dir, extraFlags: FLAGS });
    const admin = new pg.Client({ connectionString: cluster.connectionString });
    await admin.connect();
    await admin.query('CREATE DATABASE guard');
    await admin.end();
    url = cluster.databaseUrl('guard');
    pool = createPool(url, { max: 10, application: 'slot-guard-test' });
    await migrate(pool, silentLog);
    rules = parseSyncRules({
      capture: { slotName: 'guard_slot', publicationName: 'sync_pub', standbyPollMs: 100 },
    });
    await ensurePublication(pool, rules);
    await ensureSlot(pool, rules.capture.slotName);
    await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Guarded school')`, [tenant]);
    await pool.query('CREATE TABLE scratch (id bigserial PRIMARY KEY, body text)');
    server = await startTestServer(pool, { capture: rules.capture });
    deskToken = await server.token(tenant, 'desk');
  }, 120_000);

  afterAll(async () => {
    for (const capture of captures) await capture.stop();
    await server?.close();
    if (pool !== undefined) await endPool(pool);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a LOST slot is recreated, every epoch bumped and capture restarted; the desk resnapshots and ends equal to the server', async () => {
    // A desk in sync with a capturing server.
    let capture = await startCapture();
    await addStudents(30);
    const desk = new Desk();
    await waitFor(async () => (await catchUp(desk)) === 'OK' && desk.rows.size === 30, {
      message: 'desk has 30',
    });
    const oldCursor = desk.cursor;

    // Capture stops; changes keep coming and the slot is lost with them.
    await capture.stop();
    await pool.query(`UPDATE students SET first_name = 'Fatou' WHERE tenant_id = $1`, [tenant]);
    await addStudents(5);
    await loseSlot();

    const recreated: SlotRestart[] = [];
    const guard = new SlotGuard(log, {
      pool,
      slotName: rules.capture.slotName,
      onSlotRecreated: async (restart) => {
        recreated.push(restart);
        capture = await startCapture();
      },
    });
    const restart = await guard.check();
    expect(restart).toMatchObject({ slotName: rules.capture.slotName, previous: 'lost', tenants: 1 });
    expect(recreated).toEqual([restart]);
    expect((await slot())?.wal_status).toBe('reserved');
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 50,
        msg: expect.stringContaining('replication slot recreated after it was lost'),
      }),
    );
    const state = await pool.query<{ epoch: number; floor_id: number; max_id: number; lsn: string }>(
      `SELECT l.epoch, l.floor_id, (SELECT max(id) FROM sync_events) AS max_id,
              (SELECT last_commit_lsn::text FROM sync_capture_state WHERE slot_name = $2) AS lsn
         FROM sync_tenant_log l WHERE l.tenant_id = $1`,
      [tenant, rules.capture.slotName],
    );
    expect(state.rows[0]).toMatchObject({ epoch: 1 });
    expect(state.rows[0]!.floor_id).toBe(state.rows[0]!.max_id);
    expect(decodeCursor(oldCursor!).epoch).toBe(0);

    // The desk's cursor is refused; it resnapshots and follows the new slot from there.
    expect(await catchUp(desk)).toBe('RESYNC_REQUIRED');
    desk.rows.clear();
    desk.cursor = null;
    await snapshot(desk);
    await addStudents(3);
    await pool.query(`UPDATE students SET last_name = 'Ba' WHERE tenant_id = $1 AND first_name = 'Fatou'`, [
      tenant,
    ]);
    const server = await serverRows();
    expect(server.size).toBe(38);
    await waitFor(
      async () => {
        await catchUp(desk);
        return JSON.stringify([...desk.rows].sort()) === JSON.stringify([...server].sort());
      },
      { timeoutMs: 15_000, message: 'desk equal to the server after recovery' },
    );
    await capture.stop();
  });

  it('a dropped slot is recreated by the running guard, loudly, and a healthy slot is left alone', async () => {
    const recreated: SlotRestart[] = [];
    const guard = new SlotGuard(log, {
      pool,
      slotName: rules.capture.slotName,
      checkSeconds: 0.1,
      onSlotRecreated: (restart) => void recreated.push(restart),
    });
    expect(await guard.check()).toBeNull();
    const epochBefore = await pool.query<{ epoch: number }>(
      'SELECT epoch FROM sync_tenant_log WHERE tenant_id = $1',
      [tenant],
    );
    const running = guard.run();
    await pool.query('SELECT pg_drop_replication_slot($1)', [rules.capture.slotName]);
    await waitFor(() => recreated.length > 0, { message: 'guard recreated the slot' });
    await guard.stop();
    await running;
    expect(recreated).toEqual([expect.objectContaining({ previous: 'missing', tenants: 1 })]);
    expect(await slot()).toBeDefined();
    const epochAfter = await pool.query<{ epoch: number }>(
      'SELECT epoch FROM sync_tenant_log WHERE tenant_id = $1',
      [tenant],
    );
    expect(epochAfter.rows[0]!.epoch).toBe(epochBefore.rows[0]!.epoch + 1);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 50, msg: expect.stringContaining('replication slot missing') }),
    );
  });

  it('retained WAL over the thresholds is reported as warning, then critical, and logged', async () => {
    const seen: SlotWarning[] = [];
    const check = (walWarnBytes: number, walCriticalBytes: number) =>
      new SlotGuard(log, {
        pool,
        slotName: rules.capture.slotName,
        walWarnBytes,
        walCriticalBytes,
        onWarning: (warning) => seen.push(warning),
      }).check();
    await pool.query(`INSERT INTO scratch (body) VALUES ('a little WAL')`);
    await check(1024 ** 3, 4 * 1024 ** 3);
    await check(1, 1024 ** 3);
    await check(1, 2);
    expect(seen.map((w) => w.level)).toEqual(['ok', 'warning', 'critical']);
    expect(seen[1]).toMatchObject({ slotName: rules.capture.slotName, active: false, walStatus: 'reserved' });
    expect(seen[1]!.retainedBytes).toBeGreaterThan(0);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 40, msg: expect.stringContaining('warning above 1 B') }),
    );
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 50, msg: expect.stringContaining('critical above 2 B') }),
    );
  });
});
