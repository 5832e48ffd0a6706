import { encodeNotification, SYNC_EVENTS_CHANNEL } from '../../server/log/notification.ts';
import { inTransaction, type Pool } from '../../server/db/pool.ts';

/** Serialises writers across processes, as capture's single writer does: ids become visible in order. */
const WRITER_LOCK = 7_405_999;

/**
 * Writes events into sync_events the way capture stores a batch: one transaction per call, serialised
 * with every other writer, ending with the same pg_notify capture sends (naming the capture `notify.capture`,
 * or none with `notify: false`). Returns the new ids per tenant.
 */
export async function appendEvents(
  pool: Pool,
  batch: readonly { tenantId: string; count: number; entityType?: string; padBytes?: number }[],
  { notify = true }: { notify?: boolean | { capture: string } } = {},
): Promise<Map<string, number[]>> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [WRITER_LOCK]);
    const ids = new Map<string, number[]>();
    let lastId = 0;
    for (const { tenantId, count, entityType = 'STUDENT', padBytes = 0 } of batch) {
      const result = await client.query<{ id: number }>(
        `INSERT INTO sync_events (tenant_id, entity_type, entity_id, operation, payload, server_version,
           commit_lsn, xid, modified_at)
         SELECT $1, $2, e.entity_id, 'CREATE',
           jsonb_build_object('id', e.entity_id, 'tenantId', $1::uuid, 'firstName', 'Awa', 'lastName', 'Diallo',
             'n', e.g) || CASE WHEN $4::integer > 0 THEN jsonb_build_object('notes', repeat('x', $4)) ELSE '{}' END,
           nextval('server_version_seq'), '0/16B3748', 1000, now()
         FROM (SELECT g, gen_random_uuid() AS entity_id FROM generate_series(1, $3::integer) AS g) AS e
         ORDER BY e.g
         RETURNING id`,
        [tenantId, entityType, count, padBytes],
      );
      const added = result.rows.map((r) => Number(r.id)).sort((a, b) => a - b);
      ids.set(tenantId, [...(ids.get(tenantId) ?? []), ...added]);
      lastId = Math.max(lastId, ...added);
    }
    const tenants = [...new Set(batch.map((b) => b.tenantId))];
    if (notify !== false) {
      const capture = notify === true ? undefined : notify.capture;
      await client.query('SELECT pg_notify($1, $2)', [
        SYNC_EVENTS_CHANNEL,
        encodeNotification(tenants, lastId, capture),
      ]);
    }
    return ids;
  });
}

/** A tenant's log ids in order, optionally of some types only: what a desk must end up with. */
export async function tenantLog(
  pool: Pool,
  tenantId: string,
  entityTypes?: readonly string[],
): Promise<string[]> {
  const result = await pool.query<{ id: string }>(
    `SELECT e.id::text AS id FROM sync_events e WHERE tenant_id = $1 AND ($2::text[] IS NULL OR entity_type = ANY ($2))
     ORDER BY e.id`,
    [tenantId, entityTypes ?? null],
  );
  return result.rows.map((r) => r.id);
}
