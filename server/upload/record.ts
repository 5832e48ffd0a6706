import { storableText } from '../../shared/text.ts';
import type { PoolClient } from '../db/pool.ts';
import { assert } from '../../shared/asserts.ts';
import { editTimeOf, type EventOutcome, type Settled } from './outcomes.ts';

/** Who answers for the rows written: the token's tenant and user, and the desk's clientId. */
export interface Recorder {
  tenantId: string;
  userId: string;
  clientId: string;
}

/** One audit row, as the `x` rows of AUDIT_FROM_X read it. */
export interface AuditRow {
  id: string;
  entity_type: string;
  entity_id: string;
  operation: string;
  outcome: string;
  code: string | null;
  version_before: number | null;
  version_after: number | null;
  reason: string | null;
}

/** The columns of AuditRow as jsonb_to_recordset declares them. */
const AUDIT_COLUMNS = `id uuid, entity_type text, entity_id uuid, operation text, outcome text, code text,
  version_before bigint, version_after bigint, reason text`;

/** The one INSERT into the audit trail: from rows `x` ($1 tenant, $2 user, $3 client). */
const AUDIT_FROM_X = `INSERT INTO sync_audit (tenant_id, user_id, client_id, outbox_event_id, entity_type, entity_id,
                         operation, outcome, code, version_before, version_after, reason)
  SELECT $1, $2, $3, id, entity_type, entity_id, operation, outcome, code, version_before, version_after, reason
    FROM x`;

/** Every string of an answer or audit row is made storable: jsonb refuses NUL and lone surrogates. */
function storableJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === 'string' ? storableText(inner) : inner,
  );
}

function who(recorder: Recorder): [string, string, string] {
  return [recorder.tenantId, storableText(recorder.userId), storableText(recorder.clientId)];
}

/** Audit rows on their own (a conflict's resolution). */
export async function writeAudit(client: PoolClient, recorder: Recorder, rows: AuditRow[]): Promise<void> {
  await client.query(
    `WITH x AS (SELECT * FROM jsonb_to_recordset($4::jsonb) AS x(${AUDIT_COLUMNS})) ${AUDIT_FROM_X}`,
    [...who(recorder), storableJson(rows)],
  );
}

const OUTCOME_OF_LIST = {
  acknowledged: 'ACKNOWLEDGED',
  conflicts: 'CONFLICT',
  rejected: 'REJECTED',
} as const satisfies Record<EventOutcome['list'], string>;

/**
 * Stores each answer (idempotency) and its audit row in one statement. Returns how many answers were
 * stored: fewer than given means a parallel request stored some of the same ids first.
 */
export async function recordOutcomes(
  client: PoolClient,
  recorder: Recorder,
  settled: Settled[],
): Promise<number> {
  if (settled.length === 0) return 0;
  const rows = settled.map(({ claim: { event, serverEventId }, decision: d, outcome }) => {
    assert(
      outcome.entry.outboxEventId === event.id,
      () => `answer of ${outcome.entry.outboxEventId} for ${event.id}`,
    );
    const audit: AuditRow = {
      id: event.id,
      // A rejected event's entityType is whatever the desk sent: kept short and storable.
      entity_type: storableText(event.entityType.slice(0, 100)),
      entity_id: event.entityId,
      operation: event.operation,
      outcome: OUTCOME_OF_LIST[outcome.list],
      code: outcome.list === 'rejected' ? outcome.entry.code : null,
      // A conflict records the version the event met (null: the row is gone); a rejection never got that far.
      version_before:
        d?.kind === 'write'
          ? d.versionBefore
          : d?.kind === 'conflict' && d.state?.exists === true
            ? Number(d.state.row?.server_version ?? d.state.version)
            : null,
      version_after: outcome.list === 'acknowledged' ? Number(outcome.entry.serverVersion) : null,
      reason: outcome.list === 'acknowledged' ? null : outcome.entry.reason,
    };
    return {
      ...audit,
      server_event_id: serverEventId,
      // An acknowledgement is rebuilt from the columns: only conflicts and rejections keep their body.
      response: outcome.list === 'acknowledged' ? null : outcome,
      edited_at: editTimeOf(event),
    };
  });
  const result = await client.query<{ stored: number }>(
    `WITH x AS (
       SELECT * FROM jsonb_to_recordset($4::jsonb) AS x(${AUDIT_COLUMNS}, server_event_id bigint, response jsonb,
         edited_at timestamptz)
     ), stored AS (
       INSERT INTO sync_upload_results (tenant_id, outbox_event_id, server_event_id, client_id, entity_type,
                                        entity_id, operation, outcome, server_version, response, edited_at)
       SELECT $1, id, server_event_id, $3, entity_type, entity_id, operation, outcome, version_after, response,
              edited_at
         FROM x ORDER BY id
       ON CONFLICT DO NOTHING RETURNING 1
     ), audited AS (${AUDIT_FROM_X})
     SELECT count(*)::int AS stored FROM stored`,
    [...who(recorder), storableJson(rows)],
  );
  return result.rows[0]?.stored ?? 0;
}
