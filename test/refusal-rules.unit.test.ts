import type { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entityPayloadSchemas } from '../shared/entities.ts';
import { detailOfIssue } from '../shared/refusal-rules.ts';
import { ValidationError } from '../desktop/store/index.ts';
import { studentChange, tempDesk, uuid } from './desk-store.fixtures.ts';

function detailsOf(schema: z.ZodType, input: object) {
  const result = schema.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => detailOfIssue(issue, input));
}

describe('refusal rules: what the shared schemas say, as a rule and its parameters', () => {
  it('a missing or empty field is REQUIRED; a bad one names its rule and limit', () => {
    const exam = entityPayloadSchemas.EXAM.pick({ subject: true, date: true, maxScore: true });
    expect(detailsOf(exam, { subject: '', date: '2024-02-31', maxScore: 0 })).toEqual([
      { rule: 'REQUIRED', params: { field: 'subject' } },
      { rule: 'DATE', params: { field: 'date' } },
      { rule: 'ABOVE', params: { field: 'maxScore', limit: 0 } },
    ]);
    const payment = entityPayloadSchemas.PAYMENT.pick({ amountCents: true, currency: true, method: true });
    expect(detailsOf(payment, { amountCents: 1.5, currency: 'eur' })).toEqual([
      { rule: 'INTEGER', params: { field: 'amountCents' } },
      { rule: 'CURRENCY', params: { field: 'currency' } },
      { rule: 'REQUIRED', params: { field: 'method' } },
    ]);
    const teacher = entityPayloadSchemas.TEACHER.pick({ email: true, lastName: true });
    expect(detailsOf(teacher, { email: 'x', lastName: 'L'.repeat(201) })).toEqual([
      { rule: 'EMAIL', params: { field: 'email' } },
      { rule: 'MAX', params: { field: 'lastName', limit: 200 } },
    ]);
  });
});

describe('refusal rules on the desk', () => {
  let desk: ReturnType<typeof tempDesk>;
  beforeEach(() => {
    desk = tempDesk();
  });
  afterEach(() => desk.cleanup());

  it("a local edit's issues carry the rule; a server refusal keeps its rule and parameters", () => {
    const store = desk.open();
    const id = uuid();
    store.applyChanges([studentChange(id, 1)], 'c1');
    let issues: unknown;
    try {
      store.update('STUDENT', id, { firstName: '' });
    } catch (err) {
      issues = err instanceof ValidationError ? err.issues : err;
    }
    expect(issues).toEqual([expect.objectContaining({ field: 'firstName', rule: 'REQUIRED' })]);

    const edit = store.update('STUDENT', id, { firstName: 'Refused' });
    const old = store.update('STUDENT', id, { firstName: 'Refused by an older server' });
    store.markSent([edit.outboxEventId, old.outboxEventId]);
    store.applyUploadResponse({
      acknowledged: [],
      conflicts: [],
      rejected: [
        {
          outboxEventId: edit.outboxEventId,
          code: 'VALIDATION',
          reason: 'payload.firstName: too long',
          rule: 'MAX',
          params: { field: 'firstName', limit: 200 },
        },
        { outboxEventId: old.outboxEventId, code: 'VALIDATION', reason: 'payload.firstName: too long' },
      ],
      syncTimestamp: '2024-09-02T08:00:00Z',
    });
    expect(store.refusals().map((r) => [r.id, r.detail])).toEqual([
      [edit.outboxEventId, { rule: 'MAX', params: { field: 'firstName', limit: 200 } }],
      [old.outboxEventId, null],
    ]);
  });
});
