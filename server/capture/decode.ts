import type { Pgoutput } from 'pg-logical-replication';
import { camelCase, entityTypeOfTable, type EntityType } from '../../shared/entities.ts';
import type { Operation } from '../../shared/protocol.ts';
import type { SyncRules } from '../config/rules.ts';
import { jsonFragmentFor, type JsonFragment } from './values.ts';

/**
 * One captured row change, ready for sync_events. `payload` is JSON text (the row in camelCase minus
 * hidden fields). `serverVersion` is the row's as Postgres printed it; null for a DELETE, whose fresh
 * version is drawn from server_version_seq when the event is stored.
 */
export interface ChangeRow {
  tenantId: string;
  entityType: EntityType;
  entityId: string;
  operation: Operation;
  payload: string;
  serverVersion: string | null;
  /**
   * History: JSON text of the fields that differ from the old row, hidden and bookkeeping fields left out
   * (null when history is off): for an UPDATE `{ field: { from, to } }` (`to` alone when the old row is
   * unknown: REPLICA IDENTITY not FULL); for a DELETE `{ field: value }`, every field of the row it
   * removes; for a CREATE `{}`, read as every tracked field of its payload (see 010_history_in_events.sql).
   */
  changes: string | null;
}

/** Values of one tuple as pgoutput text, by column name (see RawTextPgoutputPlugin). */
type Tuple = Record<string, string | null | undefined>;

interface Field {
  column: string;
  /** `"camelName":`, precomputed once per relation. */
  key: string;
  convert: JsonFragment;
  /** Listed in history's changes: every field but the entity's bookkeeping. */
  tracked: boolean;
}

/** Fields the history entry itself carries (serverVersion, committedAt) or that never change. */
const UNTRACKED = new Set(['id', 'tenantId', 'serverVersion', 'updatedAt']);

/** What a relation (one version of a table's column list) decodes to; built once per Relation message. */
interface RelationPlan {
  entityType: EntityType;
  fields: Field[];
}

export type RowMessage = Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete;

/**
 * Turns pgoutput row messages into change rows. Column lists come from the Relation message each row
 * points at, so a column added by ALTER TABLE shows up in the next payload without a restart.
 */
export class ChangeDecoder {
  private readonly plans = new WeakMap<Pgoutput.MessageRelation, RelationPlan | null>();
  private readonly synced: ReadonlySet<EntityType>;

  /** @param options.history also compute each row's field changes (sync rule `history.enabled`) */
  constructor(
    private readonly rules: Pick<SyncRules, 'entityTypes' | 'hiddenFields'>,
    private readonly options: { history: boolean } = { history: false },
  ) {
    this.synced = new Set(rules.entityTypes);
  }

  /** The synced entity type a relation holds, or undefined when it is not one (its changes are skipped). */
  entityTypeOf(relation: Pgoutput.MessageRelation): EntityType | undefined {
    return this.planFor(relation)?.entityType;
  }

  /** Zero, one or (for an UPDATE that moves a row to another key) two change rows. */
  decode(message: RowMessage): ChangeRow[] {
    const plan = this.planFor(message.relation);
    if (plan === null) return [];
    const history = this.options.history;
    switch (message.tag) {
      case 'insert':
        return keep(row(plan, 'CREATE', message.new as Tuple, history ? EMPTY : null));
      case 'delete':
        return keep(deletion(plan, (message.old ?? message.key) as Tuple | null, history));
      case 'update': {
        const next = message.new as Tuple;
        const old = (message.old ?? message.key) as Tuple | null;
        // A changed primary key is the old entity gone and a new one created.
        if (old !== null && (old.id !== next.id || old.tenant_id !== next.tenant_id)) {
          return [deletion(plan, old, history), row(plan, 'CREATE', next, history ? EMPTY : null)].filter(
            isRow,
          );
        }
        // Without REPLICA IDENTITY FULL, `old` is null (or the key only): what a field was is unknown.
        const before = !history ? null : message.old === null ? UNKNOWN : (message.old as Tuple);
        return keep(row(plan, 'UPDATE', next, before));
      }
    }
  }

  private planFor(relation: Pgoutput.MessageRelation): RelationPlan | null {
    let plan = this.plans.get(relation);
    if (plan === undefined) {
      plan = buildPlan(relation, this.synced, this.rules.hiddenFields);
      this.plans.set(relation, plan);
    }
    return plan;
  }
}

function buildPlan(
  relation: Pgoutput.MessageRelation,
  synced: ReadonlySet<EntityType>,
  hiddenFields: SyncRules['hiddenFields'],
): RelationPlan | null {
  const entityType = entityTypeOfTable(relation.name);
  if (entityType === undefined || !synced.has(entityType)) return null;
  const hidden = new Set(hiddenFields[entityType] ?? []);
  const fields: Field[] = [];
  for (const column of relation.columns) {
    const field = camelCase(column.name);
    if (hidden.has(field)) continue;
    fields.push({
      column: column.name,
      key: `${JSON.stringify(field)}:`,
      convert: jsonFragmentFor(column.typeOid),
      tracked: !UNTRACKED.has(field),
    });
  }
  return { entityType, fields };
}

/** The old row of a CREATE: every field is new. */
const EMPTY: Tuple = {};
/** A CREATE's stored changes: its payload says them (010_history_in_events.sql). */
const CREATED = '{}';
/** The old row of an UPDATE without REPLICA IDENTITY FULL. */
const UNKNOWN: Tuple = {};

/**
 * @param before the old row to diff against (EMPTY for a CREATE, UNKNOWN when not sent), or null when
 *   history is off
 */
function row(plan: RelationPlan, operation: Operation, tuple: Tuple, before: Tuple | null): ChangeRow | null {
  const tenantId = tuple.tenant_id;
  const entityId = tuple.id;
  if (typeof tenantId !== 'string' || typeof entityId !== 'string') return null;
  // Joined rather than appended: `+=` leaves a tree of small strings that, held in the queue, keeps every
  // value string alive and costs the garbage collector more than building the payload does.
  const parts: string[] = [];
  for (const field of plan.fields) {
    const value = tuple[field.column];
    // undefined: an unchanged TOASTed value with no old tuple to take it from (REPLICA IDENTITY not FULL).
    if (value === undefined) continue;
    parts.push(field.key + (value === null ? 'null' : field.convert(value)));
  }
  return {
    tenantId,
    entityType: plan.entityType,
    entityId,
    operation,
    payload: `{${parts.join(',')}}`,
    serverVersion: tuple.server_version ?? null,
    changes: before === null ? null : before === EMPTY ? CREATED : diff(plan, before, tuple),
  };
}

/**
 * Field changes from `before` to `after`, compared as the text Postgres printed (equal text, equal value).
 * Values are converted only for the fields that changed.
 */
function diff(plan: RelationPlan, before: Tuple, after: Tuple): string {
  const parts: string[] = [];
  const known = before !== UNKNOWN;
  for (const field of plan.fields) {
    if (!field.tracked) continue;
    const to = after[field.column];
    if (to === undefined) continue; // an unchanged TOASTed value
    const from = before[field.column];
    if (!known || from === undefined) {
      parts.push(`${field.key}{"to":${fragment(field, to)}}`);
    } else if (from !== to) {
      parts.push(`${field.key}{"from":${fragment(field, from)},"to":${fragment(field, to)}}`);
    }
  }
  return `{${parts.join(',')}}`;
}

/** A DELETE: every field of the old row (those it sent: the key alone without REPLICA IDENTITY FULL). */
function removal(plan: RelationPlan, old: Tuple): string {
  const parts: string[] = [];
  for (const field of plan.fields) {
    if (!field.tracked) continue;
    const from = old[field.column];
    if (from === undefined) continue;
    parts.push(field.key + fragment(field, from));
  }
  return `{${parts.join(',')}}`;
}

function fragment(field: Field, value: string | null): string {
  return value === null ? 'null' : field.convert(value);
}

function deletion(plan: RelationPlan, old: Tuple | null, history: boolean): ChangeRow | null {
  const tenantId = old?.tenant_id;
  const entityId = old?.id;
  if (typeof tenantId !== 'string' || typeof entityId !== 'string') return null;
  return {
    tenantId,
    entityType: plan.entityType,
    entityId,
    operation: 'DELETE',
    payload: `{"id":"${entityId}","tenantId":"${tenantId}"}`,
    serverVersion: null,
    changes: history && old !== null ? removal(plan, old) : null,
  };
}

function isRow(value: ChangeRow | null): value is ChangeRow {
  return value !== null;
}

function keep(value: ChangeRow | null): ChangeRow[] {
  return value === null ? [] : [value];
}
