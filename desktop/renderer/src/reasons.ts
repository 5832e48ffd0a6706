import type { RefusalParams } from '../../../shared/refusal-rules.ts';
import type { FieldIssue } from '../../store/index.ts';
import { labelOf } from './dom.ts';
import { tOr, type Params } from './i18n/index.ts';

/** What a refused edit or a bad value says, in the words of the desk's catalogue. */
interface Said {
  rule?: string;
  params?: RefusalParams;
}

function paramsOf(params: RefusalParams): Params {
  const out: Record<string, string | number> = {};
  if (params.limit !== undefined) out.limit = params.limit;
  if (params.type !== undefined) out.type = tOr(`entity.${params.type}`, params.type).toLowerCase();
  if (params.other !== undefined) out.other = labelOf(params.other).toLowerCase();
  return out;
}

const capitalized = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * The server's refusal in the desk's language: its rule and parameters when it sent them, else its English
 * reason with the field named as the forms name it ("payload.classId: …" → "Class: …").
 * `withField: false` leaves the field out, where the screen shows it already (a grade's score).
 */
export function refusalWords(refusal: Said & { reason: string }, withField = true): string {
  const { rule, params = {} } = refusal;
  const text = rule === undefined ? undefined : tOr(`refusal.${rule}`, '', paramsOf(params));
  if (text === undefined || text === '') {
    if (!withField) return refusal.reason.replace(/^payload\.\w+: /, '').replace('maxScore', 'highest score');
    return refusal.reason.replace(/^payload\.(\w+): /, (_m, field: string) => `${labelOf(field)}: `);
  }
  const field = params.field?.split('.')[0];
  if (!withField) return text;
  if (field === undefined || field === '' || field.startsWith('(')) return capitalized(text);
  return tOr('refusal.withField', text, { field: labelOf(field), text });
}

/** A field's message from the store (the shared schema's rule) in the desk's words; else its own message. */
export function issueWords(issue: FieldIssue): string {
  if (issue.rule === undefined) return issue.message;
  return tOr(`check.${issue.rule}`, issue.message, paramsOf(issue.params ?? {}));
}
