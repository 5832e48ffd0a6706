import { camelCase, entityTypeOfTable, type EntityType } from '../../shared/entities.ts';
import type { OutboxEvent } from '../../shared/protocol.ts';
import { isPgError, SQLSTATE, type PgError } from '../db/sqlstate.ts';
import type { Rejection } from './validate.ts';

// Data exceptions (class 22) by name: the rule a value broke, said without the database's own message.
const DATA_RULES: Readonly<Record<string, string>> = {
  '22001': 'text too long for the field',
  '22003': 'number out of the field’s range',
  '22007': 'not a valid date or time',
  '22008': 'date or time out of range',
  '22P02': 'not a valid value for the field’s type',
  '22P05': 'character the server cannot store',
  '22021': 'character the server cannot store',
};

/** A table or column was dropped or renamed under a running upload: not the event's fault, retry later. */
export function isSchemaChange(error: unknown): boolean {
  return isPgError(error, SQLSTATE.UNDEFINED_TABLE, SQLSTATE.UNDEFINED_COLUMN);
}

/** `Key (tenant_id, class_id)=(…)` → `class_id`: the column a foreign-key failure is about. */
function keyColumn(detail: string | undefined): string | undefined {
  const match = /^Key \(tenant_id, ([a-z0-9_]+)\)/.exec(detail ?? '');
  return match?.[1];
}

/** `… from table "grades".` → GRADE: who still refers to a row that a DELETE would remove. */
function referencingType(detail: string | undefined): EntityType | undefined {
  const match = /referenced from table "([a-z0-9_]+)"/.exec(detail ?? '');
  return match?.[1] === undefined ? undefined : entityTypeOfTable(match[1]);
}

/** `exams_max_score_check` on `exams` → `maxScore`, when the name follows Postgres' default pattern. */
function checkedField(constraint: string | undefined, table: string): string | undefined {
  if (constraint === undefined) return undefined;
  const prefix = `${table}_`;
  if (!constraint.startsWith(prefix) || !constraint.endsWith('_check')) return undefined;
  return camelCase(constraint.slice(prefix.length, -'_check'.length));
}

/**
 * A database failure that is the event's own fault, as a permanent rejection whose reason names the field
 * and the rule — never the database's message or a table name.
 */
export function rejectionOf(error: PgError, type: EntityType, event: OutboxEvent, table: string): Rejection {
  switch (error.code) {
    case SQLSTATE.FOREIGN_KEY_VIOLATION: {
      if (event.operation === 'DELETE') {
        const by = referencingType(error.detail);
        return {
          code: 'REFERENCE',
          reason: `${type} ${event.entityId} is still referenced${by === undefined ? '' : ` by ${by} records`}; delete or move those first`,
          rule: 'STILL_REFERENCED',
          params: by === undefined ? {} : { type: by },
        };
      }
      const column = keyColumn(error.detail);
      return {
        code: 'REFERENCE',
        reason: `payload.${column === undefined ? '(reference)' : camelCase(column)}: refers to a record that does not exist`,
        rule: 'REFERENCE_MISSING',
        params: column === undefined ? {} : { field: camelCase(column) },
      };
    }
    case SQLSTATE.NOT_NULL_VIOLATION:
      return {
        code: 'VALIDATION',
        reason: `payload.${error.column === undefined ? '(field)' : camelCase(error.column)}: is required`,
        rule: 'REQUIRED',
        params: error.column === undefined ? {} : { field: camelCase(error.column) },
      };
    case SQLSTATE.CHECK_VIOLATION: {
      const field = checkedField(error.constraint, table);
      return {
        code: 'VALIDATION',
        reason: `payload.${field ?? '(field)'}: breaks a rule of the server for ${type} (check constraint)`,
        rule: 'SERVER_RULE',
        params: field === undefined ? {} : { field },
      };
    }
    case SQLSTATE.UNIQUE_VIOLATION:
      return {
        code: 'VALIDATION',
        reason: `payload: another ${type} already has these values (unique rule)`,
        rule: 'UNIQUE',
        params: { type },
      };
    default: {
      const rule = DATA_RULES[error.code] ?? 'a value the server cannot store';
      return {
        code: 'VALIDATION',
        reason: `payload: ${rule} (SQLSTATE ${error.code})`,
        rule: 'SERVER_RULE',
        params: {},
      };
    }
  }
}
