import { z } from 'zod';
import { uuidSchema } from '../../shared/entities.ts';

/** Channel on which capture announces each stored batch, after its COMMIT. */
export const SYNC_EVENTS_CHANNEL = 'sync_events';

/** NOTIFY payloads must stay under 8000 bytes; past this the tenant list is replaced by `all`. */
const MAX_PAYLOAD_BYTES = 7000;

const notificationSchema = z.union([
  z.object({ all: z.literal(true), lastEventId: z.number().int().nonnegative() }),
  z.object({ tenantIds: z.array(uuidSchema), lastEventId: z.number().int().nonnegative() }),
]);

/**
 * A stored batch: which tenants have new events up to `lastEventId`, or `all` when every tenant must look
 * (a TRUNCATE bumped every epoch, or the tenant list did not fit in a NOTIFY).
 */
export type SyncEventsNotification = z.infer<typeof notificationSchema>;

export function encodeNotification(tenantIds: readonly string[] | 'all', lastEventId: number): string {
  if (tenantIds !== 'all') {
    const payload = JSON.stringify({ tenantIds, lastEventId });
    if (payload.length <= MAX_PAYLOAD_BYTES) return payload;
  }
  return JSON.stringify({ all: true, lastEventId });
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
