import type pg from 'pg';
import { z } from 'zod';
import { entityTypeSchema, uuidSchema, type EntityType } from '../../shared/entities.ts';

/**
 * Prefix of the transactional logical message with which an upload stamps its transaction. Capture pairs
 * each row change of that transaction with the next unused op of the same entity, in order.
 */
export const ORIGIN_MESSAGE_PREFIX = 'sync.origin';

/** One row change of the upload: [entityType, entityId, outboxEventId, deleteVersion (0: not a delete)]. */
export type OriginOp = [EntityType, string, string, number];

const originMessageSchema = z.object({
  clientId: z.string().min(1).max(200),
  ops: z.array(z.tuple([entityTypeSchema, uuidSchema, uuidSchema, z.number().int().nonnegative()])),
});

/** Origin of an upload transaction's writes. */
export type OriginMessage = z.infer<typeof originMessageSchema>;

/** Which desk upload a change came from, and, for a deletion, the server_version the upload gave it. */
export interface ChangeOrigin {
  clientId: string;
  outboxEventId: string;
  deleteVersion: number;
}

/** Stamps the caller's open transaction with the origin of the row changes it makes. */
export async function emitOrigin(
  client: Pick<pg.ClientBase, 'query'>,
  message: OriginMessage,
): Promise<void> {
  if (message.ops.length === 0) return;
  await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
    ORIGIN_MESSAGE_PREFIX,
    JSON.stringify(message),
  ]);
}

const decoder = new TextDecoder();

/** The message's content, or null when it is not a valid origin message. */
export function parseOrigin(content: Uint8Array): OriginMessage | null {
  try {
    const parsed = originMessageSchema.safeParse(JSON.parse(decoder.decode(content)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The origins of one transaction, consumed row change by row change. */
export class OriginQueue {
  private readonly byEntity = new Map<string, ChangeOrigin[]>();

  add(message: OriginMessage): void {
    for (const [type, entityId, outboxEventId, deleteVersion] of message.ops) {
      const key = `${type}:${entityId}`;
      const queue = this.byEntity.get(key);
      const origin = { clientId: message.clientId, outboxEventId, deleteVersion };
      if (queue === undefined) this.byEntity.set(key, [origin]);
      else queue.push(origin);
    }
  }

  /** The origin of the next row change of this entity, or null when another writer made it. */
  take(type: EntityType, entityId: string): ChangeOrigin | null {
    if (this.byEntity.size === 0) return null;
    return this.byEntity.get(`${type}:${entityId}`)?.shift() ?? null;
  }
}
