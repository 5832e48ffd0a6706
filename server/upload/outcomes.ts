import type { EntityType } from '../../shared/entities.ts';
import type { OutboxEvent, SyncUpResponse } from '../../shared/protocol.ts';
import type { SyncRules } from '../config/rules.ts';
import type { PoolClient } from '../db/pool.ts';
import { rowToPayload, type ColumnCatalog } from './columns.ts';
import { entityKey, type Decision } from './plan.ts';
import { fetchRows } from './reads.ts';
import type { Rejection, ValidEvent } from './validate.ts';

type Ack = SyncUpResponse['acknowledged'][number];
type Conflict = SyncUpResponse['conflicts'][number];
type Rejected = SyncUpResponse['rejected'][number];

/** The answer for one outbox event; stored, and given again to any later request with the same id. */
export type EventOutcome =
  | { list: 'acknowledged'; entry: Ack }
  | { list: 'conflicts'; entry: Conflict }
  | { list: 'rejected'; entry: Rejected };

/** An outbox event this request answers (not answered before), with its server id and its own checks. */
export interface Claim {
  event: OutboxEvent;
  serverEventId: string;
  checked: { ok: true; value: ValidEvent } | { ok: false; rejection: Rejection };
}

/** A claim decided: what was decided (null: refused by its own checks) and the answer it gets. */
export interface Settled {
  claim: Claim;
  decision: Decision | null;
  outcome: EventOutcome;
}

/**
 * Turns decisions into protocol entries, in order; a conflict on a row this batch wrote shows the row as it
 * is now (re-read), with hidden fields left out.
 */
export async function outcomesOf(
  client: PoolClient,
  deps: { rules: SyncRules; catalog: ColumnCatalog },
  tenantId: string,
  decided: { claim: Claim; decision: Decision | null }[],
): Promise<Settled[]> {
  const reread = new Map<EntityType, string[]>();
  for (const { decision: d } of decided) {
    if (d?.kind === 'conflict' && d.state?.touched === true) {
      reread.set(d.state.type, [...(reread.get(d.state.type) ?? []), d.state.id]);
    }
  }
  const current = new Map<string, Record<string, unknown>>();
  for (const [type, ids] of reread) {
    for (const row of await fetchRows(client, tenantId, type, ids, false))
      current.set(entityKey(type, String(row.id)), row);
  }
  const settled: Settled[] = [];
  for (const { claim, decision: d } of decided) {
    const outboxEventId = claim.event.id;
    const answer = (outcome: EventOutcome): void => void settled.push({ claim, decision: d, outcome });
    if (!claim.checked.ok || d === null) {
      const rejection = claim.checked.ok
        ? { code: 'VALIDATION' as const, reason: 'not decided' }
        : claim.checked.rejection;
      answer({ list: 'rejected', entry: { outboxEventId, ...rejection } });
    } else if (d.kind === 'rejected') {
      answer({ list: 'rejected', entry: { outboxEventId, ...d.rejection } });
    } else if (d.kind === 'conflict') {
      const row =
        d.state === null
          ? null
          : d.state.touched
            ? (current.get(entityKey(d.state.type, d.state.id)) ?? null)
            : d.state.row;
      const serverData =
        row === null || d.state === null
          ? null
          : rowToPayload(
              row,
              await deps.catalog.get(client, d.state.type),
              deps.rules.hiddenFields[d.state.type],
            );
      answer({ list: 'conflicts', entry: { outboxEventId, reason: d.reason, serverData } });
    } else {
      answer({
        list: 'acknowledged',
        entry: {
          outboxEventId,
          serverEventId: claim.serverEventId,
          entityId: claim.event.entityId,
          serverVersion: d.kind === 'write' ? d.write.version : d.version,
        },
      });
    }
  }
  return settled;
}

/** When the desk made the edit (the outbox event's createdAt) as ISO 8601; null when it is not a time. */
export function editTimeOf(event: Pick<OutboxEvent, 'createdAt'>): string | null {
  const millis = Date.parse(event.createdAt);
  // Postgres timestamptz holds years 4713 BC to 294276 AD; a desk's clock is far inside that or wrong.
  if (!Number.isFinite(millis) || millis < Date.UTC(1970, 0, 1) || millis > Date.UTC(9999, 11, 31))
    return null;
  return new Date(millis).toISOString();
}
