import { emitOrigin, type OriginOp } from '../capture/origin.ts';
import type { PoolClient } from '../db/pool.ts';
import { isPgError, isTransientDatabaseError, SQLSTATE } from '../db/sqlstate.ts';
import { applyOne } from './apply.ts';
import type { ColumnCatalog } from './columns.ts';
import { isSchemaChange, rejectionOf } from './database-rejection.ts';
import {
  decide,
  emptyState,
  tableOf,
  type DecideInput,
  type Decision,
  type EntityState,
  type PlannedWrite,
} from './plan.ts';
import { fetchRows } from './reads.ts';

/**
 * The careful path: one event decided, and its write made under its own savepoint. A write the database
 * refuses for the event's own fault becomes a rejection (the entity keeps the state it had); a CREATE that
 * met another writer's insert of the same id is a conflict; a failure that may pass is thrown.
 */
export async function decideCarefully(
  client: PoolClient,
  deps: { catalog: ColumnCatalog },
  who: { tenantId: string; userId: string; clientId: string },
  input: DecideInput,
  originOp: (write: PlannedWrite) => OriginOp,
): Promise<{ decision: Decision; state: EntityState }> {
  const decided = decide(input);
  if (decided.decision.kind !== 'write') return decided;
  const { write } = decided.decision;
  await client.query('SAVEPOINT upload_event');
  try {
    await emitOrigin(client, { clientId: who.clientId, userId: who.userId, ops: [originOp(write)] });
    await applyOne(client, deps.catalog, who.tenantId, write);
    await client.query('RELEASE SAVEPOINT upload_event');
    return decided;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT upload_event');
    if (!isPgError(error) || isTransientDatabaseError(error) || isSchemaChange(error)) throw error;
    const { event, valid } = input;
    if (isPgError(error, SQLSTATE.UNIQUE_VIOLATION) && event.operation === 'CREATE') {
      // Another writer created the same id between our read and our insert: the row exists, a conflict.
      const [row] = await fetchRows(client, who.tenantId, valid.type, [event.entityId], false);
      if (row !== undefined) {
        const state = {
          ...emptyState(valid.type, event.entityId),
          exists: true,
          version: Number(row.server_version),
          row,
        };
        return {
          decision: { kind: 'conflict', reason: `${valid.type} ${event.entityId} already exists`, state },
          state,
        };
      }
    }
    return {
      decision: { kind: 'rejected', rejection: rejectionOf(error, valid.type, event, tableOf(valid.type)) },
      state: input.state,
    };
  }
}
