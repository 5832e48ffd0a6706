import { z } from 'zod';

/**
 * Why a value or an event was refused, in a form any client can render in its own language. The English
 * `reason` of a rejected entry says the same for people and other clients; this is its machine-readable
 * twin. A client meeting a rule it does not know shows the `reason`.
 */
export const REFUSAL_RULES = [
  /** The field is missing or empty. */
  'REQUIRED',
  /** A number below `limit` (or a text shorter than `limit` characters). */
  'MIN',
  /** A number above `limit` (or a text longer than `limit` characters). */
  'MAX',
  /** A number that must be above `limit` (exclusive). */
  'ABOVE',
  /** A whole number was expected. */
  'INTEGER',
  /** A number was expected. */
  'NUMBER',
  /** An ISO date (`YYYY-MM-DD`) or time was expected. */
  'DATE',
  /** An email address was expected. */
  'EMAIL',
  /** A three-letter ISO 4217 currency code was expected. */
  'CURRENCY',
  /** One of a fixed list of values was expected. */
  'CHOICE',
  /** Any other malformed value (a bad id, a wrong type). */
  'INVALID',
  /** A date that must not be before the date of the field `other`. */
  'NOT_BEFORE',
  /** A grade's score above its exam's highest score `limit`. */
  'SCORE_ABOVE_MAX',
  /** `field` points at a record of `type` the server does not have. */
  'REFERENCE_MISSING',
  /** A delete of a record that records of `type` still refer to. */
  'STILL_REFERENCED',
  /** Another record already has these values. */
  'UNIQUE',
  /** Text the database cannot store (NUL, a lone surrogate), or nested deeper than `limit`. */
  'UNSTORABLE',
  /** A rule of the server's own database (a check constraint) the desk does not know. */
  'SERVER_RULE',
  /** The record's id or tenant in the payload is not the event's / the token's. */
  'IDENTITY',
  /** Desks may not write records of `type` (sync rules), or it is not synced by this server. */
  'NOT_WRITABLE',
] as const;
export type RefusalRule = (typeof REFUSAL_RULES)[number];

/** Parameters of a rule: the field it concerns (camelCase, no `payload.`), the limit, the other type or field. */
export const refusalParamsSchema = z.looseObject({
  field: z.string().optional(),
  limit: z.number().optional(),
  type: z.string().optional(),
  other: z.string().optional(),
});
export type RefusalParams = z.infer<typeof refusalParamsSchema>;

/** One refusal's rule and parameters; `rule` is a string on the wire so that a newer server's rule parses. */
export interface RefusalDetail {
  rule: RefusalRule;
  params: RefusalParams;
}

/** What a zod issue says, as a rule; `input` is the object parsed, to tell a missing field from a bad one. */
export function detailOfIssue(issue: z.core.$ZodIssue, input: unknown): RefusalDetail {
  const field = issue.path.map(String).join('.');
  const params: RefusalParams = field === '' ? {} : { field };
  let value: unknown = input;
  for (const key of issue.path) {
    value =
      value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  const limited = (rule: RefusalRule, limit: unknown): RefusalDetail => ({
    rule,
    params: typeof limit === 'number' ? { ...params, limit } : params,
  });
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined || value === null || value === '') return { rule: 'REQUIRED', params };
      if (issue.expected === 'int') return { rule: 'INTEGER', params };
      return { rule: issue.expected === 'number' ? 'NUMBER' : 'INVALID', params };
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return { rule: 'REQUIRED', params };
      if (issue.inclusive === false) return limited('ABOVE', Number(issue.minimum));
      return limited('MIN', Number(issue.minimum));
    case 'too_big':
      return limited('MAX', Number(issue.maximum));
    case 'invalid_format':
      if (issue.format === 'email') return { rule: 'EMAIL', params };
      if (issue.format === 'date' || issue.format === 'datetime') return { rule: 'DATE', params };
      if (issue.format === 'regex' && issue.message.includes('ISO 4217')) return { rule: 'CURRENCY', params };
      return { rule: 'INVALID', params };
    case 'invalid_value':
      return { rule: 'CHOICE', params };
    case 'custom':
      // The year-0000 refinement of every shared date.
      return { rule: issue.message === 'the year must be 0001 or later' ? 'DATE' : 'INVALID', params };
    default:
      return { rule: 'INVALID', params };
  }
}
