import type { EntityChecksum } from '../../shared/checksum.ts';
import { ENTITY_TABLES, type EntityType } from '../../shared/entities.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { CaptureWaiter } from './capture-wait.ts';
import { encodeCursor } from './cursor.ts';
import { readTenantLogState } from './tenant-log.ts';

export { CHECKSUM_MESSAGE_PREFIX } from './capture-wait.ts';

/** The figures of PROTOCOL `/api/sync/checksum` and the log position they hold at. */
export interface ChecksumAnswer {
  checksums: Partial<Record<EntityType, EntityChecksum>>;
  cursor: string;
}

export interface CaptureWaitOptions {
  slotName: string;
  /** How long to wait for capture before NOT_READY (503). */
  timeoutMs: number;
  /** First pause between looks at capture's progress. */
  pollMs?: number;
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

/** One caller's wait (see CaptureWaiter, which a server node shares between its checksum requests). */
export async function waitForCapture(pool: Pool, options: CaptureWaitOptions): Promise<void> {
  const waiter = new CaptureWaiter(pool, {
    slotName: options.slotName,
    ...(options.pollMs === undefined ? {} : { minPollMs: options.pollMs }),
  });
  await waiter.wait({
    timeoutMs: options.timeoutMs,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
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
