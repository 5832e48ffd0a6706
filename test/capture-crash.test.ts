import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Capture } from '../server/capture/capture.ts';
import { formatLsn } from '../server/db/lsn.ts';
import type { Pool } from '../server/db/pool.ts';
import { silentLog, waitFor, type TestDatabase } from './support/db.ts';
import { captureChildSuite, storedCount, type CaptureChild } from './support/capture-env.ts';

const ROWS = 50_000;
const ROWS_PER_TXN = 250;
/** The writer stays at most this far ahead of what is stored, so a kill always lands mid-stream. */
const MAX_AHEAD = 10_000;

/**
 * Writes ROWS row changes to teachers of `tenant` in transactions of ROWS_PER_TXN: inserts, and updates
 * of rows already written. Returns every change as `id:server_version`, the key sync_events must hold once.
 * While capture is down the writer waits once it is MAX_AHEAD rows ahead, and goes on when capture does.
 */
async function writeStream(db: TestDatabase, tenant: string, written: string[] = []): Promise<string[]> {
  const ids: string[] = [];
  let stored = 0;
  const client = await db.pool.connect();
  try {
    for (let n = 0; n < ROWS / ROWS_PER_TXN; n++) {
      if (written.length - stored >= MAX_AHEAD) {
        stored = await waitFor(
          async () => {
            const count = await storedCount(db, tenant);
            return count > written.length - MAX_AHEAD ? count : null;
          },
          { timeoutMs: 30_000, intervalMs: 10 },
        );
      }
      const result =
        n % 3 === 2
          ? await client.query<{ id: string; server_version: number }>(
              `UPDATE teachers SET last_name = last_name || '+' WHERE tenant_id = $1 AND id = ANY($2::uuid[])
               RETURNING id, server_version`,
              [tenant, ids.slice(-ROWS_PER_TXN)],
            )
          : await client.query<{ id: string; server_version: number }>(
              `INSERT INTO teachers (tenant_id, id, first_name, last_name)
               SELECT $1, gen_random_uuid(), 'F' || g, 'L' FROM generate_series(1, $2) g
               RETURNING id, server_version`,
              [tenant, ROWS_PER_TXN],
            );
      for (const row of result.rows) {
        if (n % 3 !== 2) ids.push(row.id);
        written.push(`${row.id}:${row.server_version}`);
      }
    }
  } finally {
    client.release();
  }
  return written;
}

async function storedChanges(pool: Pool, tenant: string): Promise<string[]> {
  const result = await pool.query<{ change: string }>(
    `SELECT entity_id || ':' || server_version AS change FROM sync_events WHERE tenant_id = $1`,
    [tenant],
  );
  return result.rows.map((r) => r.change);
}

/**
 * Once `writing` has ended and `capture` has drained the stream (nothing arrives late: the count stays
 * put), sync_events holds every change written exactly once. Postgres resends from the stored LSN: at most
 * the transaction committed exactly there was skipped.
 */
async function expectEachChangeOnce(
  db: TestDatabase,
  tenant: string,
  writing: Promise<string[]>,
  capture: CaptureChild,
): Promise<void> {
  const written = await writing;
  await waitFor(async () => (await storedCount(db, tenant)) >= ROWS, { timeoutMs: 60_000 });
  await waitFor(() => capture.lastStatus?.queuedRows === 0);
  const stored = await storedChanges(db.pool, tenant);
  expect(stored.length).toBe(ROWS);
  expect(stored.sort()).toEqual(written.sort());
  expect(capture.lastStatus?.skippedTransactions).toBeLessThanOrEqual(1);
}

async function leaderOf(pool: Pool, slot: string): Promise<string | null> {
  const result = await pool.query<{ leader: string | null }>(
    'SELECT leader FROM sync_capture_state WHERE slot_name = $1',
    [slot],
  );
  return result.rows[0]?.leader ?? null;
}

describe('capture across process crashes', () => {
  const suite = captureChildSuite();

  it('I1: kill -9 of capture in the middle of a 50 000-row write stream, then restart: every change is stored exactly once', async () => {
    const { db, rules, start } = suite;
    const slot = rules.capture.slotName;
    const tenant = randomUUID();
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'X1')`, [tenant]);
    const first = start('first');
    await waitFor(async () => (await leaderOf(db.pool, slot)) === 'first', { timeoutMs: 20_000 });
    const progress: string[] = [];
    const writing = writeStream(db, tenant, progress);
    await waitFor(async () => (await storedCount(db, tenant)) >= ROWS / 4, { timeoutMs: 30_000 });
    await first.kill9();
    const atKill = await storedCount(db, tenant);
    expect(progress.length, 'the kill lands while rows are still being written').toBeLessThan(ROWS);
    expect(atKill).toBeLessThan(ROWS);

    const second = start('second');
    await expectEachChangeOnce(db, tenant, writing, second);
  });

  it('a standby takes over within seconds of a kill -9 of the leader mid-stream, and every change is stored exactly once', async () => {
    const { db, rules, start } = suite;
    const slot = rules.capture.slotName;
    const tenant = randomUUID();
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'X2')`, [tenant]);
    const a = start('a');
    const b = start('b');
    const leader = await waitFor(
      async () => {
        const l = await leaderOf(db.pool, slot);
        return l === 'a' || l === 'b' ? l : null;
      },
      { timeoutMs: 20_000 },
    );
    const [doomed, standby] = leader === 'a' ? [a, b] : [b, a];
    await waitFor(() => standby.lastStatus !== null, { timeoutMs: 20_000, message: 'standby is up' });
    expect(standby.lastStatus?.leader).toBe(false);

    const progress: string[] = [];
    const writing = writeStream(db, tenant, progress);
    await waitFor(async () => (await storedCount(db, tenant)) >= ROWS / 4, { timeoutMs: 30_000 });
    await doomed.kill9();
    const killedAt = Date.now();
    const atKill = await storedCount(db, tenant);
    expect(progress.length, 'the kill lands while rows are still being written').toBeLessThan(ROWS);
    await waitFor(async () => (await leaderOf(db.pool, slot)) === standby.identity, { timeoutMs: 10_000 });
    await waitFor(async () => (await storedCount(db, tenant)) > atKill, { timeoutMs: 10_000 });
    expect(Date.now() - killedAt).toBeLessThan(5_000);

    await expectEachChangeOnce(db, tenant, writing, standby);
  });

  it('on restart Postgres resends only from the stored LSN, and the transaction committed exactly there is skipped', async () => {
    const { db, rules } = suite;
    const slot = rules.capture.slotName;
    const tenant = randomUUID();
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'X3')`, [tenant]);
    const ids = [randomUUID(), randomUUID(), randomUUID()] as const;
    for (const id of ids) {
      await db.pool.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'R', 'R')`,
        [tenant, id],
      );
    }
    // With no capture running, the slot still holds the three transactions: read their commit LSNs from
    // the Begin messages (byte 0 'B', bytes 1-8 the commit LSN) without consuming them.
    // (Decoding reads flushed WAL only; with synchronous_commit=off that takes a moment.)
    const commits = await waitFor(async () => {
      const peek = await db.pool.query<{ data: Buffer }>(
        `SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL,
           'proto_version', '1', 'publication_names', 'sync_pub')`,
        [slot],
      );
      const begins = peek.rows
        .filter((r) => r.data[0] === 0x42)
        .map((r) => formatLsn(r.data.readBigUInt64BE(1)));
      return begins.length >= 3 ? begins : null;
    });
    const [, second] = commits.slice(-3);
    // As if a capture had stored up to the second transaction and died before acknowledging it.
    await db.pool.query('UPDATE sync_capture_state SET last_commit_lsn = $2 WHERE slot_name = $1', [
      slot,
      second,
    ]);

    const capture = new Capture(silentLog, { connectionString: db.url, pool: db.pool, rules });
    const running = capture.run();
    try {
      await waitFor(async () => (await storedCount(db, tenant)) >= 1, { timeoutMs: 20_000 });
      const stored = await db.pool.query<{ entity_id: string }>(
        'SELECT entity_id FROM sync_events WHERE tenant_id = $1',
        [tenant],
      );
      expect(stored.rows.map((r) => r.entity_id)).toEqual([ids[2]]);
      expect(capture.status.skippedTransactions).toBe(1);
    } finally {
      await capture.stop();
      await running;
    }
  });
});
