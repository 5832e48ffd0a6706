import { camelCase, ENTITY_TABLES, type EntityType } from '../../shared/entities.ts';
import type { OutboxEvent } from '../../shared/protocol.ts';
import { ENTITY_REFERENCES } from './references.ts';
import type { Rejection, ValidEvent } from './validate.ts';

/** What the server knows of one entity while a batch is being planned. */
export interface EntityState {
  type: EntityType;
  id: string;
  exists: boolean;
  /** The row's server_version before this batch touched it (0: absent). */
  version: number;
  /** The row as `to_jsonb` gives it (snake_case), updated by the batch's own writes. */
  row: Record<string, unknown> | null;
  /** True once an event of this batch has written the entity. */
  touched: boolean;
  /** localVersions of this batch's acknowledged events on the entity: later events based on them chain. */
  ackedBases: Set<number>;
  /** server_version of a deletion, when known (from this batch or the log). */
  deletedVersion: number;
}

export type WriteKind = 'insert' | 'update' | 'delete';

/** One row write the batch will make. `version` is filled once it is applied. */
export interface PlannedWrite {
  kind: WriteKind;
  type: EntityType;
  entityId: string;
  outboxEventId: string;
  /** Full row for insert/update (snake_case, with tenant_id and id); null for delete. */
  row: Record<string, unknown> | null;
  /** For a delete: the fresh server_version the deletion gets. */
  deleteVersion: number;
  version: number;
}

export type Decision =
  | { kind: 'write'; write: PlannedWrite; versionBefore: number }
  | { kind: 'ack-deleted'; version: number }
  | { kind: 'conflict'; reason: string; state: EntityState | null }
  | { kind: 'rejected'; rejection: Rejection };

export function entityKey(type: EntityType, id: string): string {
  return `${type}:${id}`;
}

export function emptyState(type: EntityType, id: string): EntityState {
  return {
    type,
    id,
    exists: false,
    version: 0,
    row: null,
    touched: false,
    ackedBases: new Set(),
    deletedVersion: 0,
  };
}

/** A reference to a row the tenant does not have (the foreign keys the database would refuse). */
function referenceProblem(
  type: EntityType,
  row: Record<string, unknown>,
  lookup: (type: EntityType, id: string) => EntityState | undefined,
): Rejection | undefined {
  for (const ref of ENTITY_REFERENCES[type]) {
    const target = row[ref.column];
    if (typeof target !== 'string') continue;
    if (lookup(ref.type, target)?.exists !== true) {
      return {
        code: 'REFERENCE',
        reason: `payload.${camelCase(ref.column)}: ${ref.type} ${target} does not exist`,
        rule: 'REFERENCE_MISSING',
        params: { field: camelCase(ref.column), type: ref.type },
      };
    }
  }
  return undefined;
}

/** A grade's score within its exam's maxScore: a rule between two rows, so decided here, not in validate. */
function scoreProblem(
  type: EntityType,
  row: Record<string, unknown>,
  lookup: (type: EntityType, id: string) => EntityState | undefined,
): Rejection | undefined {
  if (type !== 'GRADE') return undefined;
  const maxScore = Number(lookup('EXAM', String(row.exam_id))?.row?.max_score);
  if (Number.isFinite(maxScore) && Number(row.score) > maxScore) {
    return {
      code: 'VALIDATION',
      reason: `payload.score: must be between 0 and the exam's maxScore (${maxScore})`,
      rule: 'SCORE_ABOVE_MAX',
      params: { field: 'score', limit: maxScore },
    };
  }
  return undefined;
}

/** What deciding one event needs; nothing in it is changed by the decision. */
export interface DecideInput {
  event: OutboxEvent;
  valid: ValidEvent;
  tenantId: string;
  /** The entity as the batch knows it before this event. */
  state: EntityState;
  /** Other entities (references, a grade's exam) as the batch knows them. */
  lookup: (type: EntityType, id: string) => EntityState | undefined;
  /** The fresh server_version a DELETE gets if it is applied (allocated for every DELETE event). */
  deleteVersion: number;
}

/**
 * Decides one event against the entity's state, in request order: a pure function, which returns the
 * decision and the entity's state as if the write had been made. PROTOCOL: a CREATE of an existing id, or an
 * UPDATE/DELETE whose localVersion is not the row's serverVersion, is a conflict; an UPDATE of a missing row
 * is a conflict with no server data; a DELETE of a missing row is acknowledged. An event whose localVersion
 * equals that of an earlier acknowledged event of the same request on the same entity is based on that
 * event's result.
 */
export function decide(input: DecideInput): { decision: Decision; state: EntityState } {
  const { event, valid, tenantId, state, lookup } = input;
  const localVersion = Number(event.localVersion);
  const baseMatches = state.touched ? state.ackedBases.has(localVersion) : state.version === localVersion;
  const unchanged = (decision: Decision) => ({ decision, state });
  const write = (kind: WriteKind, row: Record<string, unknown> | null) => {
    const deleteVersion = kind === 'delete' ? input.deleteVersion : 0;
    const next: EntityState = {
      ...state,
      touched: true,
      ackedBases: new Set([...state.ackedBases, localVersion]),
      exists: kind !== 'delete',
      row,
      deletedVersion: kind === 'delete' ? deleteVersion : state.deletedVersion,
    };
    const decision: Decision = {
      kind: 'write',
      versionBefore: state.version,
      write: {
        kind,
        type: valid.type,
        entityId: event.entityId,
        outboxEventId: event.id,
        row,
        deleteVersion,
        version: deleteVersion,
      },
    };
    return { decision, state: next };
  };
  const conflictOnVersion = (): { decision: Decision; state: EntityState } =>
    unchanged({
      kind: 'conflict',
      reason: `localVersion ${localVersion} differs from the server's version ${state.version}`,
      state,
    });

  switch (event.operation) {
    case 'CREATE': {
      if (state.exists) {
        return unchanged({
          kind: 'conflict',
          reason: `${valid.type} ${event.entityId} already exists`,
          state,
        });
      }
      const row = { ...valid.fields, tenant_id: tenantId, id: event.entityId };
      const problem = referenceProblem(valid.type, row, lookup) ?? scoreProblem(valid.type, row, lookup);
      if (problem !== undefined) return unchanged({ kind: 'rejected', rejection: problem });
      return write('insert', row);
    }
    case 'UPDATE': {
      if (!state.exists) {
        return unchanged({
          kind: 'conflict',
          reason: `${valid.type} ${event.entityId} no longer exists on the server`,
          state: null,
        });
      }
      if (!baseMatches) return conflictOnVersion();
      const row: Record<string, unknown> = {
        ...state.row,
        ...valid.fields,
        tenant_id: tenantId,
        id: event.entityId,
      };
      const problem =
        referenceProblem(valid.type, valid.fields, lookup) ?? scoreProblem(valid.type, row, lookup);
      if (problem !== undefined) return unchanged({ kind: 'rejected', rejection: problem });
      return write('update', row);
    }
    case 'DELETE': {
      if (!state.exists) return unchanged({ kind: 'ack-deleted', version: state.deletedVersion });
      if (!baseMatches) return conflictOnVersion();
      return write('delete', null);
    }
  }
}

/** Table of an entity type, for SQL built from the fixed ENTITY_TABLES map. */
export function tableOf(type: EntityType): string {
  return ENTITY_TABLES[type];
}
