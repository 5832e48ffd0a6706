import { describe, expect, it } from 'vitest';
import type { OutboxEvent } from '../shared/protocol.ts';
import { decide, emptyState, entityKey, type DecideInput, type EntityState } from '../server/upload/plan.ts';
import type { ValidEvent } from '../server/upload/validate.ts';

const TENANT = '00000000-0000-4000-8000-000000000001';
const ID = '00000000-0000-4000-8000-0000000000aa';
const EXAM = '00000000-0000-4000-8000-0000000000e1';
const STUDENT = '00000000-0000-4000-8000-000000000051';

function event(operation: OutboxEvent['operation'], localVersion: number, id = 'e'): OutboxEvent {
  return {
    id: `00000000-0000-4000-8000-00000000000${id === 'e' ? '1' : '2'}`,
    tenantId: TENANT,
    entityType: 'GRADE',
    entityId: ID,
    operation,
    payload: {},
    localVersion,
    createdAt: '2026-12-02T08:00:00Z',
  };
}

const grade: ValidEvent = { type: 'GRADE', fields: { exam_id: EXAM, student_id: STUDENT, score: 14 } };
const existing = (version: number): EntityState => ({
  ...emptyState('GRADE', ID),
  exists: true,
  version,
  row: { id: ID, tenant_id: TENANT, exam_id: EXAM, student_id: STUDENT, score: 12, server_version: version },
});
const known = new Map<string, EntityState>([
  [
    entityKey('EXAM', EXAM),
    { ...emptyState('EXAM', EXAM), exists: true, version: 3, row: { max_score: 20 } },
  ],
  [entityKey('STUDENT', STUDENT), { ...emptyState('STUDENT', STUDENT), exists: true, version: 4, row: {} }],
]);
const input = (over: Partial<DecideInput>): DecideInput => ({
  event: event('CREATE', 0),
  valid: grade,
  tenantId: TENANT,
  state: emptyState('GRADE', ID),
  lookup: (type, id) => known.get(entityKey(type, id)),
  deleteVersion: 0,
  ...over,
});

describe('deciding one upload event (pure: no database)', () => {
  it('a CREATE of a new id is an insert of the desk fields with the tenant and id; the input state is left as it was', () => {
    const state = emptyState('GRADE', ID);
    const { decision, state: next } = decide(input({ state }));
    expect(decision).toMatchObject({
      kind: 'write',
      versionBefore: 0,
      write: {
        kind: 'insert',
        row: { exam_id: EXAM, student_id: STUDENT, score: 14, tenant_id: TENANT, id: ID },
      },
    });
    expect(next).toMatchObject({ exists: true, touched: true });
    expect(state).toEqual(emptyState('GRADE', ID));
  });

  it('conflicts: a CREATE of an existing id, an UPDATE or DELETE on another version, an UPDATE of a missing row', () => {
    expect(decide(input({ state: existing(7) })).decision).toMatchObject({
      kind: 'conflict',
      reason: `GRADE ${ID} already exists`,
    });
    expect(decide(input({ event: event('UPDATE', 6), state: existing(7) })).decision).toMatchObject({
      kind: 'conflict',
      reason: "localVersion 6 differs from the server's version 7",
    });
    expect(decide(input({ event: event('DELETE', 6), state: existing(7) })).decision.kind).toBe('conflict');
    expect(decide(input({ event: event('UPDATE', 6) })).decision).toEqual({
      kind: 'conflict',
      reason: `GRADE ${ID} no longer exists on the server`,
      state: null,
    });
  });

  it('a DELETE of a row already gone is acknowledged with the deletion version the log has', () => {
    const gone = { ...emptyState('GRADE', ID), deletedVersion: 41 };
    expect(decide(input({ event: event('DELETE', 3), state: gone })).decision).toEqual({
      kind: 'ack-deleted',
      version: 41,
    });
  });

  it('a later event of the same request based on an acknowledged one chains onto its result', () => {
    const first = decide(input({ event: event('UPDATE', 7), state: existing(7) }));
    expect(first.decision.kind).toBe('write');
    const second = decide(input({ event: event('UPDATE', 7, 'f'), state: first.state }));
    expect(second.decision).toMatchObject({ kind: 'write', write: { kind: 'update' } });
    const deleted = decide(input({ event: event('DELETE', 7, 'f'), state: first.state, deleteVersion: 99 }));
    expect(deleted.decision).toMatchObject({ kind: 'write', write: { kind: 'delete', deleteVersion: 99 } });
    expect(deleted.state).toMatchObject({ exists: false, deletedVersion: 99 });
  });

  it('rejections: a reference to a missing row (REFERENCE) and a score above the exam maxScore (VALIDATION)', () => {
    const missing = { ...grade, fields: { ...grade.fields, student_id: ID } };
    expect(decide(input({ valid: missing })).decision).toEqual({
      kind: 'rejected',
      rejection: {
        code: 'REFERENCE',
        reason: `payload.studentId: STUDENT ${ID} does not exist`,
        rule: 'REFERENCE_MISSING',
        params: { field: 'studentId', type: 'STUDENT' },
      },
    });
    const high = { ...grade, fields: { score: 25 } };
    expect(decide(input({ event: event('UPDATE', 7), valid: high, state: existing(7) })).decision).toEqual({
      kind: 'rejected',
      rejection: {
        code: 'VALIDATION',
        reason: "payload.score: must be between 0 and the exam's maxScore (20)",
        rule: 'SCORE_ABOVE_MAX',
        params: { field: 'score', limit: 20 },
      },
    });
  });
});
