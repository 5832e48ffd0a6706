import { z } from 'zod';
import { uuidSchema } from '../../shared/entities.ts';

/** Channel on which capture announces each stored batch, after its COMMIT. */
export const SYNC_EVENTS_CHANNEL = 'sync_events';

/** NOTIFY payloads must stay under 8000 bytes; past this the tenant list is replaced by `all`. */
const MAX_PAYLOAD_BYTES = 7000;

const notificationSchema = z.union([
  z.object({ all: z.literal(true), lastEventId: z.number().int().nonnegative() }),
  z.object({
    tenantIds: z.array(uuidSchema),
    lastEventId: z.number().int().nonnegative(),
    capture: z.string().optional(),
  }),
]);

/**
 * A stored batch: which tenants have new events up to `lastEventId`, or `all` when every tenant must look
 * (a TRUNCATE bumped every epoch, or the tenant list did not fit in a NOTIFY). `capture` names the capture
 * that stored the batch: that process's own hub has the batch from memory (TenantHub.handOff).
 */
export type SyncEventsNotification = z.infer<typeof notificationSchema>;

export function encodeNotification(
  tenantIds: readonly string[] | 'all',
  lastEventId: number,
  capture?: string,
): string {
  const [before, after] = notificationAround(tenantIds, capture);
  return `${before}${lastEventId}${after}`;
}

/** The longest decimal text of a bigint id. */
const ID_DIGITS = 20;

/**
 * encodeNotification's payload split around its lastEventId: for a statement that sends the notification
 * with the id it has just drawn (`before || id || after`).
 */
export function notificationAround(
  tenantIds: readonly string[] | 'all',
  capture?: string,
): [before: string, after: string] {
  if (tenantIds !== 'all') {
    const by = capture === undefined ? '' : `"capture":${JSON.stringify(capture)},`;
    const before = `{"tenantIds":${JSON.stringify(tenantIds)},${by}"lastEventId":`;
    if (before.length + ID_DIGITS + 1 <= MAX_PAYLOAD_BYTES) return [before, '}'];
  }
  return ['{"all":true,"lastEventId":', '}'];
}

/** Parses a payload received on SYNC_EVENTS_CHANNEL; null when it is not one capture sent. */
export function parseNotification(payload: string): SyncEventsNotification | null {
  try {
    const parsed = notificationSchema.safeParse(JSON.parse(payload));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
