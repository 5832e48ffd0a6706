import type { OutboxEvent, ResolveConflictRequest } from '../../shared/protocol.ts';
import { inTransaction, quoteIdentifier, type PoolClient } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import { must } from '../../shared/asserts.ts';
import { storableText } from '../../shared/text.ts';
import { settle, type UploadDeps, type Uploader } from './batch.ts';
import type { Claim, EventOutcome } from './outcomes.ts';
import { writeAudit } from './record.ts';
import { tableOf } from './plan.ts';
import { validateEvent } from './validate.ts';
import { entityTypeSchema } from '../../shared/entities.ts';

interface ConflictRow {
  entity_type: string;
  entity_id: string;
  operation: OutboxEvent['operation'];
  server_event_id: number;
  resolution: EventOutcome | null;
  /** When the desk made the edit that met the conflict (null: stored before record history). */
  edited_at: Date | null;
}

function audit(
  client: PoolClient,
  who: Uploader,
  row: ConflictRow,
  outboxEventId: string,
  outcome: EventOutcome,
  choice: string,
  versionBefore: number,
): Promise<void> {
  return writeAudit(client, who, [
    {
      id: outboxEventId,
      entity_type: row.entity_type,
      entity_id: row.entity_id,
      operation: row.operation,
      outcome: `RESOLVED_${choice}`,
      code: outcome.list === 'rejected' ? outcome.entry.code : null,
      version_before: versionBefore,
      version_after: outcome.list === 'acknowledged' ? Number(outcome.entry.serverVersion) : null,
      reason: outcome.list === 'acknowledged' ? null : outcome.entry.reason,
    },
  ]);
}

/**
 * Settles a conflict the desk met. ACCEPT_SERVER is recorded and acknowledged. KEEP_LOCAL applies the
 * desk's payload on top of `serverVersion` (re-creating the entity if it was deleted); if the row moved
 * again the answer is a new conflict and the event may be resolved again. A settled resolution is stored
 * and given again to a repeated request.
 */
export async function resolveConflict(
  deps: UploadDeps,
  who: Uploader,
  outboxEventId: string,
  request: ResolveConflictRequest,
): Promise<EventOutcome> {
  return inTransaction(deps.pool, async (client) => {
    const found = await client.query<ConflictRow>(
      `SELECT entity_type, entity_id, operation, server_event_id, resolution, edited_at FROM sync_upload_results
        WHERE tenant_id = $1 AND outbox_event_id = $2 AND outcome = 'CONFLICT' FOR UPDATE`,
      [who.tenantId, outboxEventId],
    );
    const row = found.rows[0];
    if (row === undefined) {
      throw new SyncError(
        'UNKNOWN_CONFLICT',
        `outbox event ${outboxEventId} never met a conflict in this tenant`,
      );
    }
    if (row.resolution !== null) return row.resolution;
    const serverVersion = Number(request.serverVersion);
    let outcome: EventOutcome;
    if (request.choice === 'ACCEPT_SERVER') {
      outcome = {
        list: 'acknowledged',
        entry: {
          outboxEventId,
          serverEventId: String(row.server_event_id),
          entityId: row.entity_id,
          serverVersion,
        },
      };
    } else {
      if (request.payload === undefined && row.operation !== 'DELETE') {
        throw new SyncError('BAD_REQUEST', 'KEEP_LOCAL needs the payload to apply', [
          { field: 'payload', message: 'required when choice is KEEP_LOCAL' },
        ]);
      }
      outcome = await keepLocal(client, deps, who, outboxEventId, row, request.payload ?? {}, serverVersion);
    }
    if (request.choice === 'ACCEPT_SERVER' && deps.rules.history.enabled) {
      await recordAcceptServer(client, who, row, outboxEventId, serverVersion);
    }
    if (outcome.list !== 'conflicts') {
      await client.query(
        `UPDATE sync_upload_results SET resolution = $3, resolved_at = now() WHERE tenant_id = $1 AND outbox_event_id = $2`,
        [who.tenantId, outboxEventId, JSON.stringify(outcome)],
      );
    }
    await audit(client, who, row, outboxEventId, outcome, request.choice, serverVersion);
    return outcome;
  });
}

async function keepLocal(
  client: PoolClient,
  deps: UploadDeps,
  who: Uploader,
  outboxEventId: string,
  row: ConflictRow,
  payload: Record<string, unknown>,
  serverVersion: number,
): Promise<EventOutcome> {
  const event: OutboxEvent = {
    id: outboxEventId,
    tenantId: who.tenantId,
    entityType: row.entity_type,
    entityId: row.entity_id,
    operation: row.operation === 'DELETE' ? 'DELETE' : 'UPDATE',
    payload,
    localVersion: serverVersion,
    // Her edit was made when it first met the conflict, not now: history says "edited on …".
    createdAt: (row.edited_at ?? new Date()).toISOString(),
  };
  const serverEventId = String(row.server_event_id);
  const settleOne = async (e: OutboxEvent): Promise<EventOutcome> => {
    const claim: Claim = { event: e, serverEventId, checked: validateEvent(e, who.tenantId, deps.rules) };
    const [settled] = await settle(client, deps, who, [claim], 'careful', 'KEEP_LOCAL');
    return must(settled, () => `no outcome for the resolution of ${outboxEventId}`).outcome;
  };
  const outcome = await settleOne(event);
  // The entity was deleted since: keeping the local version re-creates it.
  if (outcome.list === 'conflicts' && outcome.entry.serverData === null && event.operation === 'UPDATE') {
    return settleOne({ ...event, operation: 'CREATE', localVersion: 0 });
  }
  return outcome;
}

/**
 * ACCEPT_SERVER writes nothing to the entity, so capture sees nothing: its history entry ("kept the
 * server's version after a conflict") is written here, in the resolving transaction. It carries the
 * entity's current version (the one she accepted), so it sorts right after the change it accepted.
 */
async function recordAcceptServer(
  client: PoolClient,
  who: Uploader,
  row: ConflictRow,
  outboxEventId: string,
  requestVersion: number,
): Promise<void> {
  const type = entityTypeSchema.safeParse(row.entity_type);
  if (!type.success) return; // a conflict is only ever met by an event of a known type
  await client.query(
    `INSERT INTO sync_history (tenant_id, entity_type, entity_id, server_version, operation, committed_at,
                               edited_at, origin_user_id, origin_client_id, origin_outbox_event_id, decision, changes)
     SELECT $1, $2, $3,
            coalesce((SELECT server_version FROM ${quoteIdentifier(tableOf(type.data))} WHERE tenant_id = $1 AND id = $3),
                     (SELECT max(server_version) FROM sync_record_history WHERE tenant_id = $1 AND entity_id = $3),
                     $4),
            $5, now(), $6, $7, $8, $9, 'ACCEPT_SERVER', '{}'`,
    [
      who.tenantId,
      type.data,
      row.entity_id,
      requestVersion,
      row.operation,
      row.edited_at,
      storableText(who.userId),
      storableText(who.clientId),
      outboxEventId,
    ],
  );
}
