import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Capture } from '../server/capture/capture.ts';
import type { SyncRules } from '../server/config/rules.ts';
import { createClient } from '../server/db/pool.ts';
import { waitFor, type TestDatabase } from './support/db.ts';
import { createCaptureDatabase, startCapture } from './support/capture-env.ts';

const TENANT = randomUUID();
const QUEUE_MAX_ROWS = 500;
const ROWS_PER_TXN = 100;
const TRANSACTIONS = 40;

describe('capture reads the slot on a worker thread, and only as fast as it stores', () => {
  let db: TestDatabase;
  let rules: SyncRules;
  let capture: Capture;

  beforeAll(async () => {
    ({ db, rules } = await createCaptureDatabase({
      capture: { queueMaxRows: QUEUE_MAX_ROWS, batchMaxRows: ROWS_PER_TXN },
    }));
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'A')`, [TENANT]);
    capture = await startCapture(db, rules);
  });

  afterAll(async () => {
    await capture?.stop();
    await db?.drop();
  });

  it('while the writer cannot store, the worker stops reading once the queue is full; then every row is stored once, in order', async () => {
    const blocker = createClient(db.url);
    await blocker.connect();
    try {
      // Holding the progress row keeps capture's writer waiting inside its first batch.
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM sync_capture_state WHERE slot_name = $1 FOR UPDATE', [
        rules.capture.slotName,
      ]);
      for (let t = 0; t < TRANSACTIONS; t++) {
        await db.pool.query(
          `INSERT INTO teachers (tenant_id, id, first_name, last_name)
           SELECT $1, gen_random_uuid(), 'T', $2 || '-' || g FROM generate_series(1, $3::integer) g`,
          [TENANT, String(t).padStart(3, '0'), ROWS_PER_TXN],
        );
      }
      // The queue fills and stays put: the worker has stopped reading the slot.
      let last = -1;
      await waitFor(
        async () => {
          const queued = capture.status.queuedRows;
          const steady = queued > 0 && queued === last;
          last = queued;
          if (!steady) await new Promise((resolve) => setTimeout(resolve, 300));
          return steady;
        },
        { timeoutMs: 20_000, message: 'the capture queue settles' },
      );
      // At most one transaction past the limit is read before the worker pauses.
      expect(capture.status.queuedRows).toBeLessThanOrEqual(QUEUE_MAX_ROWS + ROWS_PER_TXN);
      expect(capture.status.queuedRows).toBeGreaterThanOrEqual(QUEUE_MAX_ROWS);
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
    await waitFor(
      async () => {
        const r = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM sync_events WHERE tenant_id = $1`,
          [TENANT],
        );
        return r.rows[0]!.n >= TRANSACTIONS * ROWS_PER_TXN;
      },
      { timeoutMs: 30_000, message: 'every row stored' },
    );
    const stored = await db.pool.query<{ name: string }>(
      `SELECT payload->>'lastName' AS name FROM sync_events WHERE tenant_id = $1 ORDER BY id`,
      [TENANT],
    );
    const expected = Array.from({ length: TRANSACTIONS }, (_, t) =>
      Array.from({ length: ROWS_PER_TXN }, (_, g) => `${String(t).padStart(3, '0')}-${g + 1}`),
    ).flat();
    expect(stored.rows.map((r) => r.name)).toEqual(expected);
  });
});
