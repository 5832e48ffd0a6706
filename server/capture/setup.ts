import { ENTITY_TABLES, ENTITY_TYPES } from '../../shared/entities.ts';
import type { SyncRules } from '../config/rules.ts';
import { SETUP_LOCK_KEY } from '../db/migrate.ts';
import { inTransaction, quoteIdentifier, type Pool, type PoolClient } from '../db/pool.ts';
import { isPgError, SQLSTATE } from '../db/sqlstate.ts';
import { sleep } from '../../shared/timing.ts';

const ENTITY_TABLE_NAMES: readonly string[] = ENTITY_TYPES.map((type) => ENTITY_TABLES[type]);

/**
 * Creates the publication over the eleven entity tables, or adds the ones it misses. sync_events is never
 * published: capture writes it, and publishing it would feed capture its own output. Serialised across
 * starting servers by the setup advisory lock.
 */
export async function ensurePublication(
  pool: Pool,
  rules: Pick<SyncRules, 'capture'>,
): Promise<{ created: boolean; added: string[] }> {
  const name = rules.capture.publicationName;
  const quoted = quoteIdentifier(name);
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [SETUP_LOCK_KEY]);
    const existing = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name]);
    if (existing.rowCount === 0) {
      const tables = ENTITY_TABLE_NAMES.map((t) => quoteIdentifier(t)).join(', ');
      await client.query(
        `CREATE PUBLICATION ${quoted} FOR TABLE ${tables} WITH (publish = 'insert, update, delete, truncate')`,
      );
      return { created: true, added: [...ENTITY_TABLE_NAMES] };
    }
    const published = await client.query<{ tablename: string }>(
      `SELECT tablename FROM pg_publication_tables WHERE pubname = $1 AND schemaname = current_schema()`,
      [name],
    );
    const have = new Set(published.rows.map((r) => r.tablename));
    const missing = ENTITY_TABLE_NAMES.filter((t) => !have.has(t));
    if (missing.length > 0) {
      const tables = missing.map((t) => quoteIdentifier(t)).join(', ');
      await client.query(`ALTER PUBLICATION ${quoted} ADD TABLE ${tables}`);
    }
    if (have.has('sync_events')) await client.query(`ALTER PUBLICATION ${quoted} DROP TABLE sync_events`);
    return { created: false, added: missing };
  });
}

const NUDGE_MS = 100;

/**
 * Runs `create` (a logical slot being created) while asking Postgres, every 100 ms on another connection, to
 * log the running transactions. A new slot waits until every transaction running when it started has ended,
 * and learns it from such records, which Postgres otherwise writes every 15 s: on a busy database creating a
 * slot took 30–60 s. pg_log_standby_snapshot exists from Postgres 16 on and is for superusers by default;
 * where it cannot be called the creation just takes its usual time.
 */
export async function nudgingSnapshots<T>(pool: Pool, create: () => Promise<T>): Promise<T> {
  let creating = true;
  const nudging = (async () => {
    while (creating) {
      await sleep(NUDGE_MS);
      if (!creating) return;
      try {
        await pool.query('SELECT pg_log_standby_snapshot()');
      } catch {
        return;
      }
    }
  })();
  try {
    return await create();
  } finally {
    creating = false;
    await nudging;
  }
}

/**
 * Creates the pgoutput slot when missing, and the capture progress row that goes with it. From the
 * moment the slot exists every later commit is retained for capture, even before a leader streams.
 *
 * Not in a transaction: a logical slot cannot be created in one that has written. Creating one waits for
 * running transactions, so no advisory lock is held meanwhile (a server waiting on that lock in its
 * migration transaction would deadlock with us); a concurrent creation loses with duplicate_object.
 */
export async function ensureSlot(pool: Pool, slotName: string): Promise<{ created: boolean }> {
  let created = false;
  const existing = await pool.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slotName]);
  if (existing.rowCount === 0) ({ created } = await createSlot(pool, pool, slotName));
  await pool.query('INSERT INTO sync_capture_state (slot_name) VALUES ($1) ON CONFLICT DO NOTHING', [
    slotName,
  ]);
  return { created };
}

/**
 * The one place a pgoutput slot is created (on `db`, while `pool` nudges snapshots). A slot created
 * meanwhile by another server is kept: `created` is false and `lsn` is that slot's confirmed position.
 */
export async function createSlot(
  pool: Pool,
  db: Pool | PoolClient,
  slotName: string,
): Promise<{ created: boolean; lsn: string }> {
  try {
    const result = await nudgingSnapshots(pool, () =>
      db.query<{ lsn: string }>(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [
        slotName,
      ]),
    );
    return { created: true, lsn: result.rows[0]?.lsn ?? '0/0' };
  } catch (error) {
    if (!isPgError(error, SQLSTATE.DUPLICATE_OBJECT)) throw error;
    const existing = await db.query<{ lsn: string }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [slotName],
    );
    return { created: false, lsn: existing.rows[0]?.lsn ?? '0/0' };
  }
}
