import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Capture } from '../server/capture/capture.ts';
import { emitOrigin } from '../server/capture/origin.ts';
import { inTransaction } from '../server/db/pool.ts';
import { silentLog, waitFor, type TestDatabase } from './support/db.ts';
import { captureChildSuite, captureRules, events, storedCount } from './support/capture-env.ts';

/** Every `ORIGIN_EVERY`-th row of a big transaction is stamped as coming from an upload. */
const ORIGIN_EVERY = 997;

interface BigTransaction {
  ids: string[];
  /** Outbox event id per stamped row index. */
  origins: Map<number, string>;
}

/**
 * One transaction inserting `rows` teachers named 1..rows (in that order), with an upload's origin message
 * naming every ORIGIN_EVERY-th of them, so stamped rows fall in different pieces.
 */
async function writeBigTransaction(db: TestDatabase, tenant: string, rows: number): Promise<BigTransaction> {
  const ids = Array.from({ length: rows }, () => randomUUID());
  const origins = new Map<number, string>();
  for (let i = 0; i < rows; i += ORIGIN_EVERY) origins.set(i, randomUUID());
  await inTransaction(db.pool, async (client) => {
    await emitOrigin(client, {
      clientId: 'desk-big',
      ops: [...origins].map(([i, outbox]) => ['TEACHER', ids[i]!, outbox, 0]),
    });
    await client.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name)
       SELECT $1, t.id, t.n::text, 'Bulk' FROM unnest($2::uuid[]) WITH ORDINALITY AS t(id, n) ORDER BY t.n`,
      [tenant, ids],
    );
  });
  return { ids, origins };
}

/** The tenant's log holds the big transaction exactly once, in its order, with its origins. */
async function expectStoredOnce(db: TestDatabase, tenant: string, big: BigTransaction): Promise<void> {
  const stored = await events(db, 'tenant_id = $1', [tenant]);
  expect(stored.length).toBe(big.ids.length);
  expect(stored.map((e) => e.entity_id)).toEqual(big.ids);
  expect(stored.map((e) => e.payload.firstName)).toEqual(big.ids.map((_, i) => String(i + 1)));
  expect(new Set(stored.map((e) => e.commit_lsn)).size).toBe(1);
  stored.forEach((event, i) => {
    expect(event.origin_outbox_event_id).toBe(big.origins.get(i) ?? null);
    expect(event.origin_client_id).toBe(big.origins.has(i) ? 'desk-big' : null);
  });
}

async function progressOf(
  db: TestDatabase,
  slot: string,
): Promise<{ lsn: string; partialLsn: string | null; partialChanges: number }> {
  const result = await db.pool.query<{ lsn: string; partial_lsn: string | null; partial_changes: number }>(
    `SELECT last_commit_lsn::text AS lsn, partial_commit_lsn::text AS partial_lsn, partial_changes
       FROM sync_capture_state WHERE slot_name = $1`,
    [slot],
  );
  const row = result.rows[0]!;
  return { lsn: row.lsn, partialLsn: row.partial_lsn, partialChanges: row.partial_changes };
}

/** Whether the slot is acknowledged past the commit record starting at `lsn`. */
async function acknowledgedPast(db: TestDatabase, slot: string, lsn: string): Promise<boolean> {
  const result = await db.pool.query<{ past: boolean }>(
    'SELECT confirmed_flush_lsn > $2::pg_lsn AS past FROM pg_replication_slots WHERE slot_name = $1',
    [slot, lsn],
  );
  return result.rows[0]!.past;
}

describe('capture of transactions larger than a batch', () => {
  const suite = captureChildSuite({ capture: { batchMaxRows: 1000, queueMaxRows: 2000 } });

  it('a 12 000-row transaction is stored in pieces of at most a batch, once, in order, with its origins', async () => {
    const { db, rules } = suite;
    const tenant = randomUUID();
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'G1')`, [tenant]);
    const stores: number[] = [];
    const capture = new Capture(silentLog, {
      connectionString: db.url,
      pool: db.pool,
      rules,
      onStored: () => stores.push(1),
    });
    const running = capture.run();
    try {
      const big = await writeBigTransaction(db, tenant, 12_000);
      const lastWrite = randomUUID();
      await db.pool.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'After', 'Big')`,
        [tenant, lastWrite],
      );
      await waitFor(async () => (await storedCount(db, tenant)) === 12_001, { timeoutMs: 30_000 });
      const stored = await events(db, 'tenant_id = $1', [tenant]);
      expect(stored.at(-1)?.entity_id).toBe(lastWrite);
      await db.pool.query('DELETE FROM sync_events WHERE id = $1', [stored.at(-1)!.id]);
      await expectStoredOnce(db, tenant, big);
      // Pieces of at most batchMaxRows rows: twelve stores at least, each bounded.
      expect(stores.length).toBeGreaterThanOrEqual(12);
      const progress = await progressOf(db, rules.capture.slotName);
      expect(progress.partialLsn).toBeNull();
      expect(progress.partialChanges).toBe(0);
      expect(progress.lsn).toBe(stored.at(-1)!.commit_lsn);
      // Acknowledged through the last transaction once it is stored.
      await waitFor(() => acknowledgedPast(db, rules.capture.slotName, progress.lsn));
    } finally {
      await capture.stop();
      await running;
    }
  });

  it('rows with large payloads are stored in batches bounded by batchMaxBytes, once and in order', async () => {
    const { db } = suite;
    const tenant = randomUUID();
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'G3')`, [tenant]);
    const bounded = captureRules(db, { capture: { batchMaxBytes: 64 * 1024 } });
    const ends: number[] = [];
    const capture = new Capture(silentLog, {
      connectionString: db.url,
      pool: db.pool,
      rules: bounded,
      onStored: ({ lastEventId }) => ends.push(lastEventId),
    });
    const running = capture.run();
    try {
      // 300 rows of ~4 KB in one transaction, then 300 one-row transactions of ~4 KB.
      await db.pool.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name)
         SELECT $1, gen_random_uuid(), s.n::text, repeat('x', 4000) FROM generate_series(1, 300) AS s(n) ORDER BY s.n`,
        [tenant],
      );
      for (let n = 301; n <= 600; n++) {
        await db.pool.query(
          `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, gen_random_uuid(), $2, repeat('y', 4000))`,
          [tenant, String(n)],
        );
      }
      await waitFor(async () => (await storedCount(db, tenant)) === 600, { timeoutMs: 30_000 });
      const stored = await events(db, 'tenant_id = $1', [tenant]);
      expect(stored.map((e) => e.payload.firstName)).toEqual(
        Array.from({ length: 600 }, (_, i) => String(i + 1)),
      );
      // Events per stored batch: 64 KiB holds 16 such rows; the one that reaches the limit still goes in.
      ends.unshift(Number(stored[0]!.id) - 1);
      const sizes = ends.slice(1).map((end, i) => end - ends[i]!);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(17);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(600);
    } finally {
      await capture.stop();
      await running;
    }
  });

  it('I3: kill -9 while a 40 000-row transaction is half stored, then restart: its rows are stored exactly once, in order', async () => {
    const { db, rules, start } = suite;
    const slot = rules.capture.slotName;
    const tenant = randomUUID();
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'G2')`, [tenant]);
    const env = { CAPTURE_BATCH_MAX_ROWS: '500', CAPTURE_QUEUE_MAX_ROWS: '1000' };
    const first = start('first', env);
    await waitFor(() => first.lastStatus?.leader === true || null, { timeoutMs: 20_000 });

    const big = await writeBigTransaction(db, tenant, 40_000);
    const at = await waitFor(
      async () => {
        const progress = await progressOf(db, slot);
        return progress.partialLsn !== null && progress.partialChanges >= 2_000 ? progress : null;
      },
      { timeoutMs: 30_000, intervalMs: 5, message: 'a piece of the big transaction is stored' },
    );
    await first.kill9();
    const atKill = await storedCount(db, tenant);
    expect(atKill, 'the kill lands while the transaction is stored in part').toBeLessThan(big.ids.length);
    expect(atKill).toBeGreaterThanOrEqual(at.partialChanges);
    // Not acknowledged while stored in part: Postgres sends the transaction again from its start.
    expect(await acknowledgedPast(db, slot, at.partialLsn!)).toBe(false);

    const after = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'After', 'Big')`,
      [tenant, after],
    );
    const second = start('second', env);
    await waitFor(async () => (await storedCount(db, tenant)) >= big.ids.length + 1, { timeoutMs: 60_000 });
    await waitFor(() => second.lastStatus?.queuedRows === 0 || null);
    const stored = await events(db, 'tenant_id = $1', [tenant]);
    expect(stored.length).toBe(big.ids.length + 1);
    expect(stored.at(-1)?.entity_id).toBe(after);
    await db.pool.query('DELETE FROM sync_events WHERE id = $1', [stored.at(-1)!.id]);
    await expectStoredOnce(db, tenant, big);
    const progress = await progressOf(db, slot);
    expect(progress.partialLsn).toBeNull();
    expect(progress.lsn).toBe(stored.at(-1)!.commit_lsn);
  });
});
