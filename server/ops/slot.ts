import type { Logger } from 'pino';
import { createSlot, ensureSlot } from '../capture/setup.ts';
import { isPgError, SQLSTATE } from '../db/sqlstate.ts';
import { sleep } from '../../shared/timing.ts';
import { inClientTransaction, type Pool, type PoolClient } from '../db/pool.ts';
import { bumpAllEpochs } from '../log/epoch.ts';

/**
 * Advisory lock namespace (two-key form; second key hashtext(slot name)) held while a slot is dropped,
 * created and the log restarted, so the slot guard, `sync-admin slot recreate` and capture's own recovery
 * never interleave. Taken only outside transactions: creating a logical slot waits for every running
 * transaction that holds an xid, and one of those waiting on this lock would never finish.
 */
export const SLOT_LOCK_CLASS = 7_405_103;

const DROP_ATTEMPTS = 50;
const DROP_RETRY_MS = 200;

export type SlotHealth = 'ok' | 'missing' | 'lost';

/** What a recovery or a recreation did. */
export interface SlotRestart {
  slotName: string;
  /** The slot's state before: 'ok' only for a recreation a DBA asked for. */
  previous: SlotHealth;
  /** Tenants whose epoch was bumped: each of their desks resnapshots. */
  tenants: number;
  /** The new slot's consistent point: capture starts from there. */
  consistentLsn: string;
}

/** Whether the slot exists and still has the WAL it needs ('lost': invalidated by Postgres). */
export async function readSlotHealth(db: Pool | PoolClient, slotName: string): Promise<SlotHealth> {
  const result = await db.query<{ wal_status: string | null }>(
    'SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1',
    [slotName],
  );
  const row = result.rows[0];
  if (row === undefined) return 'missing';
  return row.wal_status === 'lost' ? 'lost' : 'ok';
}

/**
 * If the slot is missing or lost, recreates it and restarts the log (see restartLog); returns null when the
 * slot is healthy. Checked again under the slot lock, so two processes noticing the loss recover it once.
 */
export async function recoverSlot(pool: Pool, log: Logger, slotName: string): Promise<SlotRestart | null> {
  return withSlotLock(pool, slotName, async (client) => {
    const previous = await readSlotHealth(client, slotName);
    if (previous === 'ok') return null;
    log.error(
      { slot: slotName, health: previous },
      `replication slot ${previous}: changes committed since capture last read it are not in the log; ` +
        'recreating the slot and sending every desk to a snapshot',
    );
    if (previous === 'lost') await dropSlot(client, log, slotName);
    return restart(pool, client, slotName, previous, `replication slot ${previous}: recreated`);
  });
}

/**
 * At start-up. On a database capture never used, creates the slot. A slot capture used before (its progress
 * row exists) that is now missing — dropped while the servers were down — or lost is recovered like the
 * slot guard does at run time: changes committed meanwhile are not in the log, so every desk resyncs rather
 * than silently missing them. Returns what a recovery did, or null.
 */
export async function prepareSlot(pool: Pool, log: Logger, slotName: string): Promise<SlotRestart | null> {
  const used = await pool.query('SELECT 1 FROM sync_capture_state WHERE slot_name = $1', [slotName]);
  if (used.rowCount === 0) {
    await ensureSlot(pool, slotName);
    return null;
  }
  return recoverSlot(pool, log, slotName);
}

/**
 * Drops the slot (ending the walsender streaming from it, if any) and creates it anew, then restarts the
 * log. For a DBA who wants a fresh slot; every desk resyncs.
 */
export async function recreateSlot(
  pool: Pool,
  log: Logger,
  slotName: string,
  reason: string,
): Promise<SlotRestart> {
  return withSlotLock(pool, slotName, async (client) => {
    const previous = await readSlotHealth(client, slotName);
    if (previous !== 'missing') await dropSlot(client, log, slotName);
    return restart(pool, client, slotName, previous, reason);
  });
}

async function restart(
  pool: Pool,
  client: PoolClient,
  slotName: string,
  previous: SlotHealth,
  reason: string,
): Promise<SlotRestart> {
  const { lsn: consistentLsn } = await createSlot(pool, client, slotName);
  const tenants = await restartLog(client, slotName, reason);
  return { slotName, previous, tenants, consistentLsn };
}

/**
 * After a new slot: capture's progress row is reset, so its next session starts from the new slot and a
 * batch still in flight from the old one fails its progress check instead of committing; then every
 * tenant's epoch is bumped. The reset comes first: it waits for a batch holding the row, so the new
 * floor covers that batch's events.
 */
export async function restartLog(client: PoolClient, slotName: string, reason: string): Promise<number> {
  return inClientTransaction(client, async () => {
    await client.query(
      `INSERT INTO sync_capture_state (slot_name) VALUES ($1)
       ON CONFLICT (slot_name) DO UPDATE
         SET last_commit_lsn = '0/0', partial_commit_lsn = NULL, partial_changes = 0, updated_at = now()`,
      [slotName],
    );
    return bumpAllEpochs(client, reason);
  });
}

/**
 * Drops the slot. A walsender streaming from it is terminated first (capture reconnects and, finding the
 * slot gone, waits on the slot lock); a capture that grabs the slot again in between is terminated again.
 */
async function dropSlot(client: PoolClient, log: Logger, slotName: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const active = await client.query<{ pid: number }>(
      'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
      [slotName],
    );
    for (const { pid } of active.rows) {
      log.warn({ slot: slotName, pid }, 'ending the walsender that streams from the slot');
      await client.query('SELECT pg_terminate_backend($1)', [pid]);
    }
    try {
      await client.query('SELECT pg_drop_replication_slot($1)', [slotName]);
      return;
    } catch (error) {
      if (isPgError(error, SQLSTATE.UNDEFINED_OBJECT)) return;
      if (!isPgError(error, SQLSTATE.OBJECT_IN_USE) || attempt >= DROP_ATTEMPTS) throw error;
    }
    await sleep(DROP_RETRY_MS);
  }
}

/** Runs `fn` on one connection holding the slot lock (session-level, released even if `fn` throws). */
export async function withSlotLock<T>(
  pool: Pool,
  slotName: string,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [SLOT_LOCK_CLASS, slotName]);
  } catch (error) {
    client.release(true);
    throw error;
  }
  try {
    return await fn(client);
  } finally {
    try {
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [SLOT_LOCK_CLASS, slotName]);
      client.release();
    } catch {
      // The lock must not outlive us: a connection we cannot unlock on is closed, not pooled.
      client.release(true);
    }
  }
}
