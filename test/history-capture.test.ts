import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { emitOrigin } from '../server/capture/origin.ts';
import { inTransaction } from '../server/db/pool.ts';
import { captureChildSuite } from './support/capture-env.ts';
import { waitFor, type TestDatabase } from './support/db.ts';

const ROWS = 30_000;
const ORIGIN_EVERY = 1_000;

async function count(
  db: TestDatabase,
  table: 'sync_events' | 'sync_record_history',
  tenant: string,
): Promise<number> {
  const result = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`,
    [tenant],
  );
  return result.rows[0]!.n;
}

/**
 * History is written by capture in the rows that store the events (010_history_in_events.sql), so a crash
 * can neither lose an entry nor write one twice, also for a transaction stored in pieces (its stored changes are skipped on
 * restart, their history with them).
 */
describe('record history across a capture crash', () => {
  const suite = captureChildSuite();

  it('a kill -9 of capture mid-batch, then restart, leaves exactly one history entry per change, with its origin', async () => {
    const { db, start } = suite;
    const tenant = randomUUID();
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Crash school')`, [tenant]);
    const env = { CAPTURE_BATCH_MAX_ROWS: '500', CAPTURE_QUEUE_MAX_ROWS: '1000' };
    const first = start('first', env);
    await waitFor(() => first.lastStatus?.leader === true || null, { timeoutMs: 20_000 });

    // One transaction of ROWS inserts, some stamped as uploads, then an UPDATE of every row.
    const ids = Array.from({ length: ROWS }, () => randomUUID());
    const origins = new Map<string, string>();
    for (let i = 0; i < ROWS; i += ORIGIN_EVERY) origins.set(ids[i]!, randomUUID());
    await inTransaction(db.pool, async (client) => {
      await emitOrigin(client, {
        clientId: 'desk-big',
        userId: 'm.diallo',
        ops: [...origins].map(([id, outbox]) => ['TEACHER', id, outbox, 0, '2026-11-28T10:00:00.000Z', null]),
      });
      await client.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name)
         SELECT $1, t.id, t.n::text, 'Bulk' FROM unnest($2::uuid[]) WITH ORDINALITY AS t(id, n) ORDER BY t.n`,
        [tenant, ids],
      );
    });
    await db.pool.query(`UPDATE teachers SET last_name = 'Renamed' WHERE tenant_id = $1`, [tenant]);
    await waitFor(async () => ((await count(db, 'sync_record_history', tenant)) >= 2_000 ? true : null), {
      timeoutMs: 30_000,
      intervalMs: 5,
      message: 'part of the big transaction is stored',
    });
    await first.kill9();
    const atKill = await count(db, 'sync_record_history', tenant);
    expect(atKill, 'the kill lands mid-stream').toBeLessThan(2 * ROWS);
    expect(atKill).toBe(await count(db, 'sync_events', tenant));

    const second = start('second', env);
    await waitFor(async () => (await count(db, 'sync_events', tenant)) === 2 * ROWS, { timeoutMs: 90_000 });
    await waitFor(() => second.lastStatus?.queuedRows === 0 || null);

    const perChange = await db.pool.query<{ entity_id: string; operation: string; n: number }>(
      `SELECT entity_id, operation, count(*)::int AS n FROM sync_record_history WHERE tenant_id = $1
        GROUP BY entity_id, operation HAVING count(*) <> 1`,
      [tenant],
    );
    expect(perChange.rows, 'no change has two entries').toEqual([]);
    expect(await count(db, 'sync_record_history', tenant)).toBe(2 * ROWS);
    // Each entry at its event's version, with the event's origin.
    const mismatched = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sync_events e
         LEFT JOIN sync_record_history h ON h.tenant_id = e.tenant_id AND h.entity_id = e.entity_id
                                 AND h.server_version = e.server_version
        WHERE e.tenant_id = $1 AND (h.entity_id IS NULL OR h.operation <> e.operation
              OR h.origin_outbox_event_id IS DISTINCT FROM e.origin_outbox_event_id)`,
      [tenant],
    );
    expect(mismatched.rows[0]!.n).toBe(0);
    const stamped = await db.pool.query<{
      entity_id: string;
      origin_outbox_event_id: string;
      origin_user_id: string;
    }>(
      `SELECT entity_id, origin_outbox_event_id, origin_user_id FROM sync_record_history
        WHERE tenant_id = $1 AND origin_outbox_event_id IS NOT NULL`,
      [tenant],
    );
    expect(new Map(stamped.rows.map((r) => [r.entity_id, r.origin_outbox_event_id]))).toEqual(origins);
    expect(new Set(stamped.rows.map((r) => r.origin_user_id))).toEqual(new Set(['m.diallo']));
    const renamed = await db.pool.query<{ changes: unknown }>(
      `SELECT changes FROM sync_record_history WHERE tenant_id = $1 AND entity_id = $2 AND operation = 'UPDATE'`,
      [tenant, ids[0]],
    );
    expect(renamed.rows[0]!.changes).toEqual({ lastName: { from: 'Bulk', to: 'Renamed' } });
  });
});
