import type { z } from 'zod';
import { entityPayloadSchemas, isEntityType, snakeCase, type EntityType } from '../../shared/entities.ts';
import type { OutboxEvent, RejectCode } from '../../shared/protocol.ts';
import { detailOfIssue, type RefusalParams, type RefusalRule } from '../../shared/refusal-rules.ts';
import { findTextProblem, quoted } from '../../shared/text.ts';
import { acceptsUploadOf, writableFieldsOf, type SyncRules } from '../config/rules.ts';

export interface Rejection {
  code: RejectCode;
  reason: string;
  /** The machine-readable twin of `reason` (optional on the wire: stored answers replayed lack it). */
  rule?: RefusalRule;
  params?: RefusalParams;
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

/** Entity payloads are flat rows; a field holding deeper JSON than this is refused, not walked. */
const MAX_PAYLOAD_DEPTH = 16;

/** Business rules the server owns; the desk computes nothing the server must trust. */
function businessRuleViolation(type: EntityType, payload: Record<string, unknown>): Rejection | undefined {
  if (type === 'PAYMENT' && typeof payload.amountCents === 'number' && payload.amountCents <= 0) {
    return {
      code: 'VALIDATION',
      reason: 'payload.amountCents: must be greater than 0',
      rule: 'ABOVE',
      params: { field: 'amountCents', limit: 0 },
    };
  }
  if (type === 'GRADE' && typeof payload.score === 'number' && payload.score < 0) {
    return {
      code: 'VALIDATION',
      reason: 'payload.score: must be 0 or more',
      rule: 'MIN',
      params: { field: 'score', limit: 0 },
    };
  }
  if (
    type === 'ACADEMIC_YEAR' &&
    typeof payload.startDate === 'string' &&
    typeof payload.endDate === 'string' &&
    payload.endDate < payload.startDate
  ) {
    return {
      code: 'VALIDATION',
      reason: 'payload.endDate: must not be before startDate',
      rule: 'NOT_BEFORE',
      params: { field: 'endDate', other: 'startDate' },
    };
  }
  return undefined;
}

function describe(error: z.ZodError): string {
  return error.issues
    .map((issue) => `payload.${issue.path.map((key) => String(key)).join('.')}: ${issue.message}`)
    .join('; ');
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
  const reject = (code: RejectCode, reason: string, rule: RefusalRule, params: RefusalParams = {}) => ({
    ok: false as const,
    rejection: { code, reason, rule, params },
  });
  if (event.tenantId !== tenantId) {
    return reject(
      'TENANT_MISMATCH',
      `tenantId: ${quoted(event.tenantId)} is not the tenant of the token`,
      'IDENTITY',
      { field: 'tenantId' },
    );
  }
  if (!isEntityType(event.entityType) || !rules.entityTypes.includes(event.entityType)) {
    return reject(
      'UNKNOWN_ENTITY_TYPE',
      `entityType: ${quoted(event.entityType)} is not synced by this server`,
      'NOT_WRITABLE',
    );
  }
  const type = event.entityType;
  if (!acceptsUploadOf(rules, type))
    return reject('FORBIDDEN', `desks may not write ${type} (sync rules)`, 'NOT_WRITABLE', { type });
  if (event.operation === 'DELETE') return { ok: true, value: { type, fields: {} } };

  const payload = event.payload;
  if (payload.tenantId !== undefined && payload.tenantId !== tenantId) {
    return reject('TENANT_MISMATCH', 'payload.tenantId is not the tenant of the token', 'IDENTITY', {
      field: 'tenantId',
    });
  }
  if (payload.id !== undefined && payload.id !== event.entityId) {
    return reject('VALIDATION', 'payload.id: must equal the event entityId', 'IDENTITY', { field: 'id' });
  }
  const problem = findTextProblem(payload, 'payload', MAX_PAYLOAD_DEPTH);
  if (problem?.rule === 'UNSTORABLE_TEXT') {
    return reject(
      'VALIDATION',
      `${problem.path}: must not contain the NUL character or a lone UTF-16 surrogate`,
      'UNSTORABLE',
      { field: problem.path.replace(/^payload\./, '') },
    );
  }
  if (problem?.rule === 'TOO_DEEP') {
    return reject(
      'VALIDATION',
      `${problem.path}: nested deeper than ${MAX_PAYLOAD_DEPTH} levels`,
      'UNSTORABLE',
      {
        field: problem.path.replace(/^payload\./, ''),
        limit: MAX_PAYLOAD_DEPTH,
      },
    );
  }

  const candidate = { ...payload, id: event.entityId, tenantId };
  const parsed =
    event.operation === 'CREATE'
      ? entityPayloadSchemas[type].safeParse(candidate)
      : PARTIAL_SCHEMAS[type].safeParse(candidate);
  if (!parsed.success) {
    // The reason lists every issue; the rule is the first one's, the field a person fixes first.
    const first = parsed.error.issues[0];
    const detail =
      first === undefined ? { rule: 'INVALID' as const, params: {} } : detailOfIssue(first, candidate);
    return reject('VALIDATION', describe(parsed.error), detail.rule, detail.params);
  }
  const violation = businessRuleViolation(type, parsed.data);
  if (violation !== undefined) return { ok: false, rejection: violation };

  // Only the fields desks may write become columns: an unknown key ("__proto__", a column the web app added
  // since) is ignored, never written; a hidden field is never written from a desk either.
  const hidden = rules.hiddenFields[type] ?? [];
  const fields: Record<string, unknown> = {};
  for (const field of writableFieldsOf(rules, type)) {
    const value = (parsed.data as Record<string, unknown>)[field];
    if (value === undefined || hidden.includes(field) || !Object.hasOwn(parsed.data, field)) continue;
    fields[snakeCase(field)] = value;
  }
  return { ok: true, value: { type, fields } };
}
