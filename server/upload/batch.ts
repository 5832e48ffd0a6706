import type { Logger } from 'pino';
import type { EntityType } from '../../shared/entities.ts';
import type { OutboxEvent } from '../../shared/protocol.ts';
import { must } from '../../shared/asserts.ts';
import { emitOrigin, type ConflictDecision, type OriginOp } from '../capture/origin.ts';
import type { SyncRules } from '../config/rules.ts';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.ts';
import { isPgError, isTransactionRace, isTransientDatabaseError } from '../db/sqlstate.ts';
import { SyncError } from '../errors.ts';
import { applyWrites } from './apply.ts';
import { decideCarefully } from './careful.ts';
import type { ColumnCatalog } from './columns.ts';
import { editTimeOf, outcomesOf, type Claim, type EventOutcome, type Settled } from './outcomes.ts';
import { decide, emptyState, entityKey, type Decision, type EntityState, type PlannedWrite } from './plan.ts';
import { allocateServerEventIds, allocateVersions, loadStates, readStoredOutcomes } from './reads.ts';
import { recordOutcomes, type Recorder } from './record.ts';
import { validateEvent } from './validate.ts';

export interface UploadDeps {
  pool: Pool;
  rules: SyncRules;
  catalog: ColumnCatalog;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
}

/** Who uploads: the token's tenant and user, and the desk's clientId. */
export type Uploader = Recorder;

/** fast: plan everything, then a few set-based writes; careful: each write under its own savepoint. */
export type Mode = 'fast' | 'careful';

/** A parallel request stored some of the same outbox ids first: redo the batch, they are answered then. */
class UploadRaceError extends Error {
  constructor() {
    super('a parallel request stored some of these outbox events first');
  }
}
const MAX_ATTEMPTS = 4;

/** Deadlock, serialization failure, or a parallel request with the same outbox ids: redone at once. */
function isRace(error: unknown): boolean {
  return error instanceof UploadRaceError || isTransactionRace(error);
}

function unavailable(cause: unknown): SyncError {
  return new SyncError(
    'UNAVAILABLE',
    'the database is busy or restarting; nothing was applied, retry later',
    undefined,
    {
      cause,
    },
  );
}

/**
 * Applies a batch of outbox events in one transaction and returns one outcome per event, in order. The retry
 * policy lives here: a race is redone at once (a few times), a failure that may pass is 503 UNAVAILABLE with
 * nothing stored, and a write the set-based fast path could not make is redone on the careful path.
 */
export async function uploadEvents(
  deps: UploadDeps,
  who: Uploader,
  events: OutboxEvent[],
): Promise<EventOutcome[]> {
  let mode: Mode = 'fast';
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(deps.pool, (client) => runBatch(client, deps, who, events, mode));
    } catch (error) {
      // A failure that may pass is not a verdict on the events: nothing is stored, the desk retries.
      if (isRace(error)) {
        if (attempt >= MAX_ATTEMPTS) throw unavailable(error);
        continue;
      }
      if (isTransientDatabaseError(error)) throw unavailable(error);
      if (mode === 'fast' && isPgError(error)) {
        deps.log.debug({ err: error }, 'set-based upload failed; redoing the batch event by event');
        mode = 'careful';
        continue;
      }
      throw error;
    }
  }
}

/** One attempt: answers stored before are given again; the others are claimed, settled and recorded. */
async function runBatch(
  client: PoolClient,
  deps: UploadDeps,
  who: Uploader,
  events: OutboxEvent[],
  mode: Mode,
): Promise<EventOutcome[]> {
  const ids = [...new Set(events.map((e) => e.id))];
  const stored = await readStoredOutcomes(client, who.tenantId, ids);
  const serverEventIds = await allocateServerEventIds(client, ids.length - stored.size);
  const claims = new Map<string, Claim>();
  for (const event of events) {
    if (stored.has(event.id) || claims.has(event.id)) continue;
    const serverEventId = must(serverEventIds.pop(), 'server event ids exhausted');
    claims.set(event.id, { event, serverEventId, checked: validateEvent(event, who.tenantId, deps.rules) });
  }
  const settled = await settle(client, deps, who, [...claims.values()], mode);
  if ((await recordOutcomes(client, who, settled)) !== settled.length) throw new UploadRaceError();
  const fresh = new Map(settled.map((s) => [s.claim.event.id, s.outcome]));
  return events.map((event) =>
    must(fresh.get(event.id) ?? stored.get(event.id), () => `no outcome for outbox event ${event.id}`),
  );
}

/**
 * Decides and applies claimed events (in order) and returns them settled. Shared by uploads and by conflict
 * resolution, which settles one synthetic event (`decision`: recorded in its history entry).
 */
export async function settle(
  client: PoolClient,
  deps: UploadDeps,
  who: Uploader,
  claims: Claim[],
  mode: Mode,
  decision: ConflictDecision | null = null,
): Promise<Settled[]> {
  const checked = claims.flatMap((claim) =>
    claim.checked.ok ? [{ claim, valid: claim.checked.value }] : [],
  );
  const states = await loadStates(
    client,
    who.tenantId,
    checked.map(({ claim, valid }) => ({
      entityId: claim.event.entityId,
      operation: claim.event.operation,
      valid,
    })),
  );
  const lookup = (type: EntityType, id: string): EntityState | undefined => states.get(entityKey(type, id));
  const deleteVersions = await allocateVersions(
    client,
    checked.filter(({ claim }) => claim.event.operation === 'DELETE').length,
  );
  const editedAt = new Map(claims.map((claim) => [claim.event.id, editTimeOf(claim.event)]));
  const originOp = (write: PlannedWrite): OriginOp => [
    write.type,
    write.entityId,
    write.outboxEventId,
    write.deleteVersion,
    editedAt.get(write.outboxEventId) ?? null,
    decision,
  ];

  const decisions = new Map<string, Decision>();
  const writes: PlannedWrite[] = [];
  for (const { claim, valid } of checked) {
    const { event } = claim;
    const key = entityKey(valid.type, event.entityId);
    const input = {
      event,
      valid,
      tenantId: who.tenantId,
      state: states.get(key) ?? emptyState(valid.type, event.entityId),
      lookup,
      deleteVersion:
        event.operation === 'DELETE' ? must(deleteVersions.shift(), 'delete versions exhausted') : 0,
    };
    const decided =
      mode === 'careful' ? await decideCarefully(client, deps, who, input, originOp) : decide(input);
    states.set(key, decided.state);
    decisions.set(event.id, decided.decision);
    if (mode === 'fast' && decided.decision.kind === 'write') writes.push(decided.decision.write);
  }
  if (writes.length > 0) {
    await emitOrigin(client, { clientId: who.clientId, userId: who.userId, ops: writes.map(originOp) });
    await applyWrites(client, deps.catalog, who.tenantId, writes);
  }
  return outcomesOf(
    client,
    deps,
    who.tenantId,
    claims.map((claim) => ({ claim, decision: decisions.get(claim.event.id) ?? null })),
  );
}
