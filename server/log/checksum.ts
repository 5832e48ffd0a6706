import type { EntityChecksum } from '../../shared/checksum.ts';
import { ENTITY_TABLES, type EntityType } from '../../shared/entities.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import { encodeCursor } from './cursor.ts';
import { readTenantLogState } from './tenant-log.ts';

/** Prefix of the logical message a checksum request writes to learn when capture has read past its start. */
export const CHECKSUM_MESSAGE_PREFIX = 'sync.checksum';

/** The figures of PROTOCOL `/api/sync/checksum` and the log position they hold at. */
export interface ChecksumAnswer {
  checksums: Partial<Record<EntityType, EntityChecksum>>;
  cursor: string;
}

export interface CaptureWaitOptions {
  slotName: string;
  /** How long to wait for capture before NOT_READY (503). */
  timeoutMs: number;
  pollMs: number;
  signal?: AbortSignal;
}

// The same figure as shared/checksum.ts, in SQL: the first 8 bytes of SHA-256 as a signed bigint summed as
// numeric. A signed value differs from the unsigned one by 0 or 2^64, so the sum agrees modulo 2^64; the
// outer `+ 2^64) % 2^64` turns numeric's sign-keeping remainder into the unsigned one. Text, never a JS
// number: the pool parses numeric as a double.
const TWO_64 = '18446744073709551616';
const checksumSql = (table: string, type: EntityType): string => `
  SELECT '${type}' AS entity_type, count(*)::integer AS count,
    (((coalesce(sum(('x' || substr(encode(sha256(convert_to(id::text || ':' || server_version::text, 'UTF8')),
      'hex'), 1, 16))::bit(64)::bigint), 0) % ${TWO_64}) + ${TWO_64}) % ${TWO_64})::text AS sum
  FROM ${table} WHERE tenant_id = $1`;

/**
 * Waits until capture has stored every transaction committed before this call. A transactional logical
 * message is written first: capture receives it after every earlier commit and acknowledges it only once
 * those are stored, so the slot's confirmed LSN passing the start position proves the log covers it. This
 * holds while the entity tables are quiet too (`last_commit_lsn` moves only with captured rows).
 */
export async function waitForCapture(pool: Pool, options: CaptureWaitOptions): Promise<void> {
  const start = await pool.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  const startLsn = start.rows[0]?.lsn ?? '0/0';
  await pool.query(`SELECT pg_logical_emit_message(true, $1, '')`, [CHECKSUM_MESSAGE_PREFIX]);
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const progress = await pool.query<{ covered: boolean | null }>(
      `SELECT (s.last_commit_lsn >= $2::pg_lsn OR coalesce(r.confirmed_flush_lsn >= $2::pg_lsn, false))
                AS covered
         FROM sync_capture_state s LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name
        WHERE s.slot_name = $1`,
      [options.slotName, startLsn],
    );
    if (progress.rows[0]?.covered === true) return;
    if (Date.now() >= deadline || options.signal?.aborted === true) {
      throw new SyncError('NOT_READY', 'the change log is behind; try again shortly', {
        waitedMs: options.timeoutMs,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
  }
}

/**
 * Reads the checksums of `types` for a tenant and the log position in one REPEATABLE READ snapshot. Call
 * after waitForCapture: rows committed after the request started may still be newer than the cursor,
 * which a desk sees as a difference and asks again about.
 */
export async function readChecksums(
  pool: Pool,
  tenantId: string,
  types: readonly EntityType[],
): Promise<ChecksumAnswer> {
  return inTransaction(pool, async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const state = await readTenantLogState(client, tenantId);
    const checksums: Partial<Record<EntityType, EntityChecksum>> = {};
    if (types.length > 0) {
      const sql = types.map((type) => checksumSql(ENTITY_TABLES[type], type)).join('\nUNION ALL\n');
      const result = await client.query<{ entity_type: EntityType; count: number; sum: string }>(sql, [
        tenantId,
      ]);
      for (const row of result.rows) checksums[row.entity_type] = { count: row.count, sum: row.sum };
    }
    return {
      checksums,
      cursor: encodeCursor({ epoch: state.epoch, eventId: Math.max(state.tailId, state.floorId) }),
    };
  });
}
