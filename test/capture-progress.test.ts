import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capture } from '../server/capture/capture.ts';
import { CAPTURE_LOCK_CLASS } from '../server/capture/leader.ts';
import { parseNotification } from '../server/log/notification.ts';
import type { SyncRules } from '../server/config/rules.ts';
import { createClient } from '../server/db/pool.ts';
import { silentLog, waitFor, type TestDatabase } from './support/db.ts';
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

describe('capture: acknowledgement, TRUNCATE and leadership', () => {
  let db: TestDatabase;
  let rules: SyncRules;
  let capture: Capture;
  const logLines: { level: number; msg: string }[] = [];
  const notifications: string[] = [];
  let listener: pg.Client;

  beforeAll(async () => {
    ({ db, rules } = await createCaptureDatabase());
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'A'), ($2, 'B')`, [T1, T2]);
    listener = await listenToSyncEvents(db, notifications);
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          logLines.push(JSON.parse(line) as { level: number; msg: string });
        }
        done();
      },
    });
    capture = await startCapture(db, rules, pino({ level: 'info' }, sink));
    await caughtUp();
  });

  afterAll(async () => {
    await capture?.stop();
    await listener?.end();
    await db?.drop();
  });

  /** Writes a marker row and waits for its event: capture streams, and everything before it is stored. */
  async function caughtUp(): Promise<void> {
    const marker = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'M', 'M')`,
      [T1, marker],
    );
    await eventsOf([marker], 1);
  }

  const events = (where: string, params: unknown[] = []): Promise<EventRow[]> => eventsIn(db, where, params);
  const eventsOf = (ids: string[], count: number): Promise<EventRow[]> => eventsOfIn(db, ids, count);

  it('I2: an LSN is acknowledged only after its events are stored', async () => {
    const slot = rules.capture.slotName;
    await caughtUp();
    const blocker = createClient(db.url);
    await blocker.connect();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    try {
      // Holding the progress row makes the writer wait inside its batch transaction, before COMMIT.
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM sync_capture_state WHERE slot_name = $1 FOR UPDATE', [slot]);
      for (const id of ids) {
        await db.pool.query(
          `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'A', 'A')`,
          [T2, id],
        );
      }
      await waitFor(
        async () => {
          const r = await db.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'
                AND query LIKE '%UPDATE sync_capture_state%SET last_commit_lsn = $5%'`,
          );
          return r.rows[0]!.n > 0;
        },
        { message: 'the capture writer waits on the progress row' },
      );
      const held = await db.pool.query<{ lsn: string }>(
        'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      expect(await events('entity_id = ANY($1::uuid[])', [ids])).toEqual([]);
      await blocker.query('ROLLBACK');
      const rows = await eventsOf(ids, 3);
      // Postgres skips on restart every transaction whose commit record starts before confirmed_flush.
      // While they were unstored, none of these three was behind it.
      expect(lsn(held.rows[0]!.lsn) <= lsn(rows[0]!.commit_lsn)).toBe(true);
      const stored = rows.at(-1)!.commit_lsn;
      await waitFor(
        async () => {
          const r = await db.pool.query<{ acked: boolean }>(
            `SELECT confirmed_flush_lsn >= $2::pg_lsn + 1 AS acked FROM pg_replication_slots WHERE slot_name = $1`,
            [slot, stored],
          );
          return r.rows[0]!.acked;
        },
        { message: 'the stored commit LSN is acknowledged' },
      );
      const state = await db.pool.query<{ last: string }>(
        'SELECT last_commit_lsn::text AS last FROM sync_capture_state WHERE slot_name = $1',
        [slot],
      );
      expect(lsn(state.rows[0]!.last) >= lsn(stored)).toBe(true);
    } finally {
      await blocker.end();
    }
  });

  it('TRUNCATE of an entity table bumps every tenant epoch above the stored log, notifies all, and is logged', async () => {
    await caughtUp();
    const before = await db.pool.query<{ max: number }>(
      'SELECT coalesce(max(id), 0)::bigint AS max FROM sync_events',
    );
    await db.pool.query('TRUNCATE absences');
    const bumped = await waitFor(async () => {
      const r = await db.pool.query<{ tenant_id: string; epoch: number; floor_id: number; reason: string }>(
        'SELECT tenant_id, epoch, floor_id, reason FROM sync_tenant_log ORDER BY tenant_id',
      );
      return r.rows.length === 2 ? r.rows : null;
    });
    for (const row of bumped) {
      expect(row.epoch).toBe(1);
      expect(row.floor_id).toBe(before.rows[0]!.max);
      expect(row.reason).toContain('absences');
    }
    expect(bumped.map((r) => r.tenant_id).sort()).toEqual([T1, T2].sort());
    await waitFor(() => notifications.map(parseNotification).some((n) => n !== null && 'all' in n));
    await waitFor(() => logLines.some((l) => l.level === 40 && /truncated/.test(l.msg)));
  });

  it('I6: a leader whose lock connection is cut stops capturing at once; capture resumes within seconds, never with two leaders', async () => {
    const standby = new Capture(silentLog, {
      connectionString: db.url,
      pool: db.pool,
      rules,
      identity: 'standby',
    });
    const running = standby.run();
    let both = false;
    const watch = setInterval(() => {
      both ||= capture.status.leader && standby.status.leader;
    }, 10);
    try {
      expect(standby.status.leader).toBe(false);
      const cut = await db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'school-sync-capture-lock' AND datname = current_database()
            AND pid IN (SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1
                           AND d.datname = current_database())`,
        [CAPTURE_LOCK_CLASS],
      );
      expect(cut.rowCount).toBe(1);
      const cutAt = Date.now();
      await waitFor(() => logLines.some((l) => /leadership lost/.test(l.msg)), {
        message: 'the leader stops',
      });
      const id = randomUUID();
      await db.pool.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'S', 'B')`,
        [T1, id],
      );
      await eventsOf([id], 1);
      expect(Date.now() - cutAt).toBeLessThan(5_000);
      // The process that lost its lock lets the standby take over first.
      expect(standby.status.leader).toBe(true);
      const leader = await db.pool.query<{ leader: string }>('SELECT leader FROM sync_capture_state');
      expect(leader.rows[0]!.leader).toBe('standby');
    } finally {
      await standby.stop();
      await running;
      clearInterval(watch);
    }
    expect(both).toBe(false);
    // Once the standby stops, the first process leads again and resumes from the stored LSN.
    const id = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'S', 'C')`,
      [T1, id],
    );
    await eventsOf([id], 1);
    expect(capture.status.leader).toBe(true);
  });

  it('a lost replication connection is retried from the stored LSN: nothing lost, nothing stored twice', async () => {
    const slot = rules.capture.slotName;
    const before = (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_events')).rows[0]!
      .n;
    const ids = Array.from({ length: 20 }, () => randomUUID());
    for (const [i, id] of ids.entries()) {
      await db.pool.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'W', 'S')`,
        [T1, id],
      );
      if (i === 9) {
        await db.pool.query(
          'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
      }
    }
    const rows = await eventsOf(ids, ids.length);
    expect(rows.map((r) => r.entity_id)).toEqual(ids);
    await waitFor(async () => {
      const r = await db.pool.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      return r.rows[0]!.active;
    });
    const after = (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_events')).rows[0]!
      .n;
    expect(after - before).toBe(ids.length);
    expect(logLines.some((l) => l.level === 50 && /capture (stream failed|session ended)/.test(l.msg))).toBe(
      true,
    );
  });
});
