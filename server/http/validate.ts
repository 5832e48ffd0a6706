import type { z } from 'zod';
import type { ErrorCode } from '../../shared/errors.ts';
import { SyncError } from '../errors.ts';

/** One bad field of a request body, as listed in an error body's `details`. */
export interface FieldProblem {
  field: string;
  message: string;
}

// A failure confined to one kind of problem gets that problem's code; anything else is BAD_REQUEST.
function codeOf(issue: z.core.$ZodIssue): ErrorCode {
  const field = issue.path[0];
  if (field === 'entityTypes' && issue.code === 'invalid_value') return 'UNKNOWN_ENTITY_TYPE';
  if (field === 'cursor') return 'INVALID_CURSOR';
  if (field === 'pageToken') return 'INVALID_PAGE_TOKEN';
  return 'BAD_REQUEST';
}

/** Parses a request body with a shared protocol schema; a failure is a 400 naming every bad field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SyncError('BAD_REQUEST', 'the request body must be a JSON object', [
      { field: '(body)', message: 'expected a JSON object' },
    ]);
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems: FieldProblem[] = parsed.error.issues.map((issue) => ({
    field: issue.path.join('.') || '(body)',
    message: issue.message,
  }));
  const codes = new Set(parsed.error.issues.map(codeOf));
  const [only] = codes;
  const code = codes.size === 1 && only !== undefined ? only : 'BAD_REQUEST';
  throw new SyncError(code, `invalid request: ${problems.map((p) => p.field).join(', ')}`, problems);
}

/** A limit of at least 1 (checked by the schema), defaulted and capped: above the maximum is not an error. */
export function effectiveLimit(
  requested: number | undefined,
  limits: { default: number; max: number },
): number {
  return Math.min(requested ?? limits.default, limits.max);
}
