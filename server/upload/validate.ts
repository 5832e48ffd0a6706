import type { z } from 'zod';
import { entityPayloadSchemas, isEntityType, snakeCase, type EntityType } from '../../shared/entities.ts';
import type { OutboxEvent } from '../../shared/protocol.ts';
import { acceptsUploadOf, type SyncRules } from '../config/rules.ts';

export type RejectCode = 'VALIDATION' | 'TENANT_MISMATCH' | 'UNKNOWN_ENTITY_TYPE' | 'REFERENCE' | 'FORBIDDEN';

export interface Rejection {
  code: RejectCode;
  reason: string;
}

/** An event that passed the per-event checks the server can make without reading the database. */
export interface ValidEvent {
  type: EntityType;
  /** Payload fields the event writes, as snake_case columns (server-managed fields removed). */
  fields: Record<string, unknown>;
}

/** UPDATE payloads may carry only the fields they change. Built once: `.partial()` is costly. */
const PARTIAL_SCHEMAS = Object.fromEntries(
  Object.entries(entityPayloadSchemas).map(([type, schema]) => [type, schema.partial()]),
) as { [T in EntityType]: ReturnType<(typeof entityPayloadSchemas)[T]['partial']> };

const FIELD_NAME = /^[a-z][A-Za-z0-9]*$/;
const SERVER_MANAGED_FIELDS = new Set(['id', 'tenantId', 'serverVersion', 'updatedAt']);

/** Business rules the server owns; the desk computes nothing the server must trust. */
function businessRuleViolation(type: EntityType, payload: Record<string, unknown>): string | undefined {
  if (type === 'PAYMENT' && typeof payload.amountCents === 'number' && payload.amountCents <= 0) {
    return 'payload.amountCents: must be greater than 0';
  }
  if (type === 'GRADE' && typeof payload.score === 'number' && payload.score < 0) {
    return 'payload.score: must be 0 or more';
  }
  if (
    type === 'ACADEMIC_YEAR' &&
    typeof payload.startDate === 'string' &&
    typeof payload.endDate === 'string' &&
    payload.endDate < payload.startDate
  ) {
    return 'payload.endDate: must not be before startDate';
  }
  return undefined;
}

/** Postgres text cannot hold U+0000; say so up front instead of failing the write. */
function findNulCharacter(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNulCharacter(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const found = findNulCharacter(inner, `${path}.${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function describe(error: z.ZodError): string {
  return error.issues.map((issue) => `payload.${issue.path.join('.')}: ${issue.message}`).join('; ');
}

/**
 * Checks one event against the token's tenant, the sync rules and its entity's payload schema. CREATE needs
 * the whole payload; UPDATE may carry only the fields it changes; DELETE's payload is not read.
 */
export function validateEvent(
  event: OutboxEvent,
  tenantId: string,
  rules: SyncRules,
): { ok: true; value: ValidEvent } | { ok: false; rejection: Rejection } {
  const reject = (code: RejectCode, reason: string) => ({ ok: false as const, rejection: { code, reason } });
  if (event.tenantId !== tenantId) {
    return reject('TENANT_MISMATCH', `event tenantId "${event.tenantId}" is not the tenant of the token`);
  }
  if (!isEntityType(event.entityType) || !rules.entityTypes.includes(event.entityType)) {
    return reject('UNKNOWN_ENTITY_TYPE', `entityType "${event.entityType}" is not synced by this server`);
  }
  const type = event.entityType;
  if (!acceptsUploadOf(rules, type)) return reject('FORBIDDEN', `desks may not write ${type} (sync rules)`);
  if (event.operation === 'DELETE') return { ok: true, value: { type, fields: {} } };

  const payload = event.payload;
  if (payload.tenantId !== undefined && payload.tenantId !== tenantId) {
    return reject('TENANT_MISMATCH', 'payload.tenantId is not the tenant of the token');
  }
  if (payload.id !== undefined && payload.id !== event.entityId) {
    return reject('VALIDATION', 'payload.id: must equal the event entityId');
  }
  const nul = findNulCharacter(payload, 'payload');
  if (nul !== undefined) return reject('VALIDATION', `${nul}: must not contain the NUL character`);

  const candidate = { ...payload, id: event.entityId, tenantId };
  const parsed =
    event.operation === 'CREATE'
      ? entityPayloadSchemas[type].safeParse(candidate)
      : PARTIAL_SCHEMAS[type].safeParse(candidate);
  if (!parsed.success) return reject('VALIDATION', describe(parsed.error));
  const violation = businessRuleViolation(type, parsed.data);
  if (violation !== undefined) return reject('VALIDATION', violation);

  const hidden = rules.hiddenFields[type] ?? [];
  const fields: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(parsed.data)) {
    // Only plain camelCase names can be columns; this also keeps keys like "__proto__" out of the row.
    if (
      !FIELD_NAME.test(field) ||
      SERVER_MANAGED_FIELDS.has(field) ||
      hidden.includes(field) ||
      value === undefined
    ) {
      continue;
    }
    fields[snakeCase(field)] = value;
  }
  return { ok: true, value: { type, fields } };
}
