import type { EntityType } from '../../shared/entities.ts';
import type { PoolClient } from '../db/pool.ts';

/** Prefix of the transactional logical message that tells capture where an upload's row changes came from. */
export const ORIGIN_MESSAGE_PREFIX = 'sync.origin';

/** One row change of the upload: [entityType, entityId, outboxEventId, deleteVersion (0: not a delete)]. */
export type OriginOp = [EntityType, string, string, number];

/**
 * Origin of an upload transaction's writes. Capture pairs each row change of the transaction with the next
 * unused op of the same entity, in order, and takes the deletion's server_version from it.
 */
export interface OriginMessage {
  clientId: string;
  ops: OriginOp[];
}

export async function emitOrigin(client: PoolClient, message: OriginMessage): Promise<void> {
  if (message.ops.length === 0) return;
  await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
    ORIGIN_MESSAGE_PREFIX,
    JSON.stringify(message),
  ]);
}
