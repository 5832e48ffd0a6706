import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BridgeHost, SwitchableStatus } from '../desktop/bridge-host.ts';
import type { DeskStore } from '../desktop/store/index.ts';
import { tempDesk } from './desk-store.fixtures.ts';

/** The bridge's screen queries and refusals, called as they arrive over IPC or HTTP (untrusted arguments). */
describe('BridgeHost query and refusals', () => {
  let desk: ReturnType<typeof tempDesk>;
  let store: DeskStore;
  let host: BridgeHost;

  beforeEach(() => {
    desk = tempDesk();
    store = desk.open();
    host = new BridgeHost(store, new SwitchableStatus());
  });
  afterEach(() => desk.cleanup());

  it('serves a screen query by name with its arguments', async () => {
    const year = store.create('ACADEMIC_YEAR', {
      label: '2025-2026',
      startDate: '2025-09-01',
      endDate: '2026-07-03',
    });
    const level = store.create('SCHOOL_LEVEL', { name: 'Grade 3', rank: 3 });
    const cls = store.create('CLASS', {
      name: '3B',
      schoolLevelId: level.entity.id,
      academicYearId: year.entity.id,
    });
    const student = store.create('STUDENT', { firstName: 'Awa', lastName: 'Diallo', classId: cls.entity.id });
    store.create('ATTENDANCE', {
      studentId: student.entity.id,
      classId: cls.entity.id,
      date: '2025-10-06',
      status: 'LATE',
    });

    const classes = (await host.call('query', [
      { name: 'classesOfYear', academicYearId: year.entity.id },
    ])) as {
      id: string;
    }[];
    expect(classes.map((c) => c.id)).toEqual([cls.entity.id]);
    const marks = (await host.call('query', [
      { name: 'attendanceOfClass', classId: cls.entity.id, date: '2025-10-06' },
    ])) as { status: string }[];
    expect(marks.map((m) => m.status)).toEqual(['LATE']);
    expect(
      await host.call('query', [{ name: 'attendanceOfClass', classId: cls.entity.id, date: '2025-10-07' }]),
    ).toEqual([]);
  });

  it('refuses an unknown query, a missing argument and a non-string argument', async () => {
    // Like the other methods, a bad argument may throw before any promise exists: the callers await inside try.
    const call = (method: 'query' | 'refusals', args: unknown[]) =>
      Promise.resolve().then(() => host.call(method, args));
    await expect(call('query', [{ name: 'everything' }])).rejects.toThrow(/unknown query everything/);
    await expect(call('query', [{ name: 'attendanceOfClass', classId: 'x' }])).rejects.toThrow(
      /date must be a string/,
    );
    await expect(call('query', [{ name: 'gradesOfExam', examId: 7 }])).rejects.toThrow(
      /examId must be a string/,
    );
    await expect(call('query', ['gradesOfExam'])).rejects.toThrow(/expected an object/);
    await expect(call('refusals', ['NOT_A_TYPE'])).rejects.toThrow(/unknown entity type/);
  });

  it('lists the refused edits of one type with the server reason', async () => {
    const grade = store.create('GRADE', {
      examId: '00000000-0000-4000-8000-000000000001',
      studentId: '00000000-0000-4000-8000-000000000002',
      score: 30,
    });
    const [event] = store.pendingBatch();
    store.markSent([event?.id ?? '']);
    store.applyUploadResponse(
      {
        acknowledged: [],
        conflicts: [],
        rejected: [{ outboxEventId: event?.id ?? '', code: 'VALIDATION', reason: 'payload.score: too high' }],
      } as unknown as Parameters<DeskStore['applyUploadResponse']>[0],
      [event?.id ?? ''],
    );
    expect(await host.call('refusals', ['GRADE'])).toEqual([
      {
        outboxEventId: event?.id,
        type: 'GRADE',
        entityId: grade.entity.id,
        operation: 'CREATE',
        payload: expect.objectContaining({ score: 30 }) as unknown,
        reason: 'payload.score: too high',
        createdAt: expect.any(String) as unknown,
      },
    ]);
    expect(await host.call('refusals', ['PAYMENT'])).toEqual([]);
    expect(await host.call('refusals', [null])).toHaveLength(1);

    // Dismissed: it leaves the list (and is pruned later), the outbox still knows it was refused.
    await host.call('dismissRefusal', [event?.id ?? '']);
    expect(await host.call('refusals', [null])).toEqual([]);
    expect(store.failedEvents()).toHaveLength(1);
    await expect(host.call('dismissRefusal', [event?.id ?? ''])).rejects.toMatchObject({
      code: 'UNKNOWN_REFUSAL',
    });
    // (Everything dismissed up to a second from now: the dismissal itself is this millisecond.)
    expect(store.pruneAcknowledged(-1_000)).toBe(1);
    expect(store.failedEvents()).toEqual([]);
  });
});
