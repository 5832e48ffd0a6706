import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capture } from '../server/capture/capture.ts';
import type { SyncRules } from '../server/config/rules.ts';
import { Heartbeat, HEARTBEAT_MESSAGE_PREFIX } from '../server/ops/heartbeat.ts';
import { createTestDatabase, silentLog, waitFor, type TestDatabase } from './support/db.ts';
import { captureRules, setUpCapture } from './support/capture-env.ts';

describe('idle heartbeat', () => {
  let db: TestDatabase;
  let rules: SyncRules;
  let capture: Capture | null = null;

  async function startCapture(): Promise<Capture> {
    const started = new Capture(silentLog, { connectionString: db.url, pool: db.pool, rules });
    void started.run();
    await waitFor(() => started.status.leader, { message: 'capture leads' });
    await waitFor(async () => (await slotActive()) === true, { message: 'capture streams' });
    return started;
  }

  async function slotActive(): Promise<boolean> {
    const result = await db.pool.query<{ active: boolean }>(
      'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
      [rules.capture.slotName],
    );
    return result.rows[0]?.active ?? false;
  }

  /** Whether the slot's confirmed LSN has passed `lsn`. */
  async function confirmedPast(lsn: string): Promise<boolean> {
    const result = await db.pool.query<{ past: boolean }>(
      'SELECT confirmed_flush_lsn > $2::pg_lsn AS past FROM pg_replication_slots WHERE slot_name = $1',
      [rules.capture.slotName, lsn],
    );
    return result.rows[0]?.past ?? false;
  }

  async function currentLsn(): Promise<string> {
    const result = await db.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return result.rows[0]!.lsn;
  }

  async function eventCount(): Promise<number> {
    const result = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_events');
    return result.rows[0]!.n;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    rules = captureRules(db);
    await setUpCapture(db, rules);
    await db.pool.query('CREATE TABLE audit_scratch (id bigserial PRIMARY KEY, body text)');
    capture = await startCapture();
  });

  afterAll(async () => {
    await capture?.stop();
    await db?.drop();
  });

  it('with only a non-synced table written, the slot confirmed LSN still advances past that WAL', async () => {
    const heartbeat = new Heartbeat(silentLog, {
      pool: db.pool,
      slotName: rules.capture.slotName,
      intervalMs: 100,
      minLagBytes: 1,
    });
    const running = heartbeat.run();
    try {
      for (let i = 0; i < 20; i++) {
        await db.pool.query(
          `INSERT INTO audit_scratch (body) SELECT repeat('x', 200) FROM generate_series(1, 200)`,
        );
      }
      const written = await currentLsn();
      await waitFor(() => confirmedPast(written), {
        timeoutMs: 15_000,
        message: `confirmed LSN past ${written}`,
      });
      expect(await eventCount()).toBe(0);
    } finally {
      await heartbeat.stop();
      await running;
    }
  });

  it('a heartbeat is a transaction capture acknowledges and stores nothing of', async () => {
    const heartbeat = new Heartbeat(silentLog, { pool: db.pool, slotName: rules.capture.slotName });
    const before = await eventCount();
    const lsn = await heartbeat.beat();
    expect(lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    await waitFor(() => confirmedPast(lsn), { timeoutMs: 15_000, message: `heartbeat ${lsn} acknowledged` });
    expect(await eventCount()).toBe(before);
    expect(heartbeat.count).toBe(1);
  });

  it('no heartbeat while no capture streams from the slot, nor while the lag is below minLagBytes', async () => {
    const quiet = new Heartbeat(silentLog, {
      pool: db.pool,
      slotName: rules.capture.slotName,
      minLagBytes: 1024 ** 3,
    });
    await db.pool.query(`INSERT INTO audit_scratch (body) VALUES ('x')`);
    expect(await quiet.tick()).toBeNull();
    expect(await quiet.tick()).toBeNull();

    await capture?.stop();
    capture = null;
    await waitFor(async () => !(await slotActive()), { message: 'slot inactive' });
    const idle = new Heartbeat(silentLog, {
      pool: db.pool,
      slotName: rules.capture.slotName,
      minLagBytes: 1,
    });
    await db.pool.query(`INSERT INTO audit_scratch (body) VALUES ('x')`);
    expect(await idle.tick()).toBeNull();
    expect(await idle.tick()).toBeNull();
    expect(idle.count + quiet.count).toBe(0);
  });

  it('heartbeats move the slot for a consumer that acknowledges only the transactions it receives', async () => {
    // Capture (stopped by H3) also acknowledges keepalives while idle; this consumer does not, so only the
    // heartbeat's transaction can move the slot past WAL written to a table outside the publication.
    const consumer = new LogicalReplicationService(
      { connectionString: db.url },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    const prefixes: string[] = [];
    consumer.on('data', (_lsn: string, message: Pgoutput.Message) => {
      if (message.tag === 'message') prefixes.push(message.prefix);
      if (message.tag === 'commit' && message.commitLsn !== null)
        void consumer.acknowledge(message.commitLsn);
    });
    consumer.on('error', () => undefined);
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: ['sync_pub'], messages: true });
    const streaming = consumer.subscribe(plugin, rules.capture.slotName).catch(() => undefined);
    const heartbeat = new Heartbeat(silentLog, {
      pool: db.pool,
      slotName: rules.capture.slotName,
      intervalMs: 100,
      minLagBytes: 1,
    });
    try {
      await waitFor(() => slotActive(), { message: 'consumer streams' });
      await db.pool.query(
        `INSERT INTO audit_scratch (body) SELECT repeat('y', 200) FROM generate_series(1, 500)`,
      );
      const written = await currentLsn();
      const running = heartbeat.run();
      await waitFor(() => confirmedPast(written), {
        timeoutMs: 15_000,
        message: `confirmed LSN past ${written}`,
      });
      await heartbeat.stop();
      await running;
      expect(heartbeat.count).toBeGreaterThan(0);
      expect(prefixes).toContain(HEARTBEAT_MESSAGE_PREFIX);
    } finally {
      await heartbeat.stop();
      await consumer.stop();
      await streaming;
    }
  });
});
