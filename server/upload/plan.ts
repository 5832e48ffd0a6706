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
      };
    }
  }
  if (type === 'GRADE') {
    const exam = lookup('EXAM', String(row.exam_id));
    const maxScore = Number(exam?.row?.max_score);
    const score = Number(row.score);
    if (Number.isFinite(maxScore) && score > maxScore) {
      return {
        code: 'VALIDATION',
        reason: `payload.score: must be between 0 and the exam's maxScore (${maxScore})`,
      };
    }
  }
  return undefined;
}

/**
 * Decides one event against the entity's state, in request order, and updates that state as if the write
 * had been made. PROTOCOL: a CREATE of an existing id, or an UPDATE/DELETE whose localVersion is not the
 * row's serverVersion, is a conflict; an UPDATE of a missing row is a conflict with no server data; a
 * DELETE of a missing row is acknowledged. An event whose localVersion equals that of an earlier
 * acknowledged event of the same request on the same entity is based on that event's result.
 */
export function decide(
  event: OutboxEvent,
  valid: ValidEvent,
  tenantId: string,
  state: EntityState,
  lookup: (type: EntityType, id: string) => EntityState | undefined,
  nextDeleteVersion: () => number,
): Decision {
  const localVersion = Number(event.localVersion);
  const baseMatches = state.touched ? state.ackedBases.has(localVersion) : state.version === localVersion;
  const write = (kind: WriteKind, row: Record<string, unknown> | null): Decision => {
    const versionBefore = state.version;
    state.touched = true;
    state.ackedBases.add(localVersion);
    state.exists = kind !== 'delete';
    state.row = row;
    const deleteVersion = kind === 'delete' ? nextDeleteVersion() : 0;
    if (kind === 'delete') state.deletedVersion = deleteVersion;
    return {
      kind: 'write',
      versionBefore,
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
  };

  switch (event.operation) {
    case 'CREATE': {
      if (state.exists)
        return { kind: 'conflict', reason: `${valid.type} ${event.entityId} already exists`, state };
      const row = { ...valid.fields, tenant_id: tenantId, id: event.entityId };
      const problem = referenceProblem(valid.type, row, lookup);
      if (problem !== undefined) return { kind: 'rejected', rejection: problem };
      return write('insert', row);
    }
    case 'UPDATE': {
      if (!state.exists) {
        return {
          kind: 'conflict',
          reason: `${valid.type} ${event.entityId} no longer exists on the server`,
          state: null,
        };
      }
      if (!baseMatches) {
        return {
          kind: 'conflict',
          reason: `localVersion ${localVersion} differs from the server's version ${state.version}`,
          state,
        };
      }
      const row: Record<string, unknown> = {
        ...state.row,
        ...valid.fields,
        tenant_id: tenantId,
        id: event.entityId,
      };
      const problem = referenceProblem(
        valid.type,
        { ...valid.fields, exam_id: row.exam_id, score: row.score },
        lookup,
      );
      if (problem !== undefined) return { kind: 'rejected', rejection: problem };
      return write('update', row);
    }
    case 'DELETE': {
      if (!state.exists) return { kind: 'ack-deleted', version: state.deletedVersion };
      if (!baseMatches) {
        return {
          kind: 'conflict',
          reason: `localVersion ${localVersion} differs from the server's version ${state.version}`,
          state,
        };
      }
      return write('delete', null);
    }
  }
}

/** Table of an entity type, for SQL built from the fixed ENTITY_TABLES map. */
export function tableOf(type: EntityType): string {
  return ENTITY_TABLES[type];
}
