import type pg from 'pg';
import { z } from 'zod';
import { entityTypeSchema, uuidSchema, type EntityType } from '../../shared/entities.ts';
import { conflictDecisionSchema, type ConflictDecision } from '../../shared/protocol.ts';

export type { ConflictDecision };

/**
 * Prefix of the transactional logical message with which an upload stamps its transaction. Capture pairs
 * each row change of that transaction with the next unused op of the same entity, in order.
 */
export const ORIGIN_MESSAGE_PREFIX = 'sync.origin';

/**
 * One row change of the upload: [entityType, entityId, outboxEventId, deleteVersion (0: not a delete),
 * editedAt (the outbox event's createdAt), decision (the conflict resolution that wrote it, or null)].
 * The last two are absent from messages of servers older than record history.
 */
export type OriginOp =
  | [EntityType, string, string, number]
  | [EntityType, string, string, number, string | null, ConflictDecision | null];

const opHead = [entityTypeSchema, uuidSchema, uuidSchema, z.number().int().nonnegative()] as const;
const originMessageSchema = z.object({
  clientId: z.string().min(1).max(200),
  /** The token's subject (user id) of the upload; absent from messages of older servers. */
  userId: z.string().max(200).optional(),
  ops: z.array(
    z.union([
      z.tuple([...opHead, z.string().max(64).nullable(), conflictDecisionSchema.nullable()]),
      z.tuple(opHead),
    ]),
  ),
});

/** Origin of an upload transaction's writes. */
export type OriginMessage = z.infer<typeof originMessageSchema>;

/** Which desk upload a change came from, and, for a deletion, the server_version the upload gave it. */
export interface ChangeOrigin {
  clientId: string;
  outboxEventId: string;
  deleteVersion: number;
  userId: string | null;
  editedAt: string | null;
  decision: ConflictDecision | null;
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
    const userId = message.userId ?? null;
    for (const [type, entityId, outboxEventId, deleteVersion, editedAt, decision] of message.ops) {
      const key = `${type}:${entityId}`;
      const queue = this.byEntity.get(key);
      const origin: ChangeOrigin = {
        clientId: message.clientId,
        outboxEventId,
        deleteVersion,
        userId,
        editedAt: editedAt ?? null,
        decision: decision ?? null,
      };
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
