import type { RefusalParams, RefusalRule } from '../../shared/refusal-rules.ts';
import type { EntityType } from '../../shared/entities.ts';

export type DeskStoreErrorCode =
  | 'VALIDATION'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'TENANT_MISMATCH'
  | 'UNKNOWN_CONFLICT'
  | 'UNKNOWN_REFUSAL'
  | 'INVALID_STATE'
  | 'SCHEMA_TOO_NEW';

/** Every error the store throws on purpose carries a stable UPPER_SNAKE `code`. */
export class DeskStoreError extends Error {
  constructor(
    readonly code: DeskStoreErrorCode,
    message: string,
    readonly details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DeskStoreError';
  }
}

export interface FieldIssue {
  /** Dotted path inside the payload, e.g. `firstName` or `address.city`; `(payload)` for the whole object. */
  field: string;
  message: string;
  /** What the shared schema said, for the screens' own words (shared/refusal-rules.ts). */
  rule?: RefusalRule;
  params?: RefusalParams;
}

/** A payload refused by `entityPayloadSchemas[type]`; `fields` names every bad field. */
export class ValidationError extends DeskStoreError {
  readonly fields: string[];
  constructor(
    readonly entityType: EntityType,
    readonly issues: FieldIssue[],
  ) {
    super(
      'VALIDATION',
      `invalid ${entityType}: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      issues,
    );
    this.name = 'ValidationError';
    this.fields = [...new Set(issues.map((i) => i.field))];
  }
}
