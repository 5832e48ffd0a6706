import type pg from 'pg';
import { encodeNotification, SYNC_EVENTS_CHANNEL } from './notification.ts';

/**
 * Starts a new log epoch for every tenant: every cursor issued before (and a null cursor) gets 410 and the
 * desk bootstraps from the snapshot. floor_id becomes the end of the log as the caller's transaction sees
 * it, so a desk that snapshots afterwards starts from a cursor the log serves. Returns how many tenants.
 *
 * Used wherever the log stops being a gap-free account of the entity tables: a lost or recreated slot
 * (slot guard, `sync-admin slot recreate`) and a TRUNCATE of an entity table (capture).
 */
export async function bumpAllEpochs(client: Pick<pg.ClientBase, 'query'>, reason: string): Promise<number> {
  const result = await client.query(
    `INSERT INTO sync_tenant_log (tenant_id, epoch, floor_id, reason, changed_at)
     SELECT t.id, 1, f.floor_id, $1, now()
       FROM tenants t, (SELECT coalesce(max(id), 0) AS floor_id FROM sync_events) f
     ON CONFLICT (tenant_id) DO UPDATE
       SET epoch = sync_tenant_log.epoch + 1,
           floor_id = greatest(sync_tenant_log.floor_id, EXCLUDED.floor_id),
           reason = EXCLUDED.reason,
           changed_at = EXCLUDED.changed_at`,
    [reason],
  );
  // Live desks learn of the new epoch now (resync, 4410), not at their tenant's next change. Delivered at
  // the caller's COMMIT.
  const tail = await client.query<{ last_id: string }>(
    'SELECT coalesce(max(id), 0)::text AS last_id FROM sync_events',
  );
  await client.query('SELECT pg_notify($1, $2)', [
    SYNC_EVENTS_CHANNEL,
    encodeNotification('all', Number(tail.rows[0]?.last_id ?? 0)),
  ]);
  return result.rowCount ?? 0;
}
