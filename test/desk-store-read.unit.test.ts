import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCREEN_SQL, searchSql } from '../desktop/store/queries.ts';
import { checksumOf, rowHash } from '../shared/checksum.ts';
import { ENTITY_TYPES } from '../shared/entities.ts';
import { change, studentChange, tempDesk, uuid } from './desk-store.fixtures.ts';

describe('desk store: checksums', () => {
  let desk: ReturnType<typeof tempDesk>;
  beforeEach(() => {
    desk = tempDesk();
  });
  afterEach(() => desk.cleanup());

  it('the checksum is the sum mod 2^64 of the first 8 bytes of SHA-256(id:serverVersion) (known answer)', () => {
    const a = '00000000-0000-4000-8000-000000000001';
    const b = '00000000-0000-4000-8000-000000000002';
    const byHand = (text: string): bigint =>
      BigInt(`0x${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
    expect(byHand(`${a}:1`)).toBe(11861632578910071491n);
    expect(rowHash(a, 1)).toBe(byHand(`${a}:1`));
    expect(rowHash(b, '42')).toBe(rowHash(b, 42n));
    // These two overflow 2^64: the sum wraps.
    const expected = ((byHand(`${a}:1`) + byHand(`${b}:42`)) % 2n ** 64n).toString();
    expect(expected).toBe('7923785156658766092');
    expect(
      checksumOf([
        [a, 1],
        [b, 42],
      ]),
    ).toEqual({ count: 2, sum: expected });

    const store = desk.open();
    store.applyChanges(
      [studentChange(a, 1), studentChange(b, 42), change('STUDENT', uuid(), 50, {}, 'DELETE')],
      'c',
    );
    expect(store.checksums(['STUDENT', 'TEACHER'])).toEqual({
      STUDENT: { count: 2, sum: '7923785156658766092' },
      TEACHER: { count: 0, sum: '0' },
    });
  });

  it('two desks holding the same rows have the same checksums, whatever the path; one version apart differs', () => {
    const rows = Array.from({ length: 500 }, (_, i) => ({ id: uuid(), version: 10 + i }));
    const left = desk.open('left.db');
    const right = desk.open('right.db');
    left.applyChanges(
      rows.map((r) => studentChange(r.id, r.version)),
      'c',
    );
    const shuffled = [...rows].reverse();
    // The right desk sees older versions first, redeliveries, and a row created then deleted.
    const gone = uuid();
    right.applyChanges(
      shuffled.map((r) => studentChange(r.id, r.version - 5)),
      'a',
    );
    right.applyChanges([studentChange(gone, 1), ...shuffled.map((r) => studentChange(r.id, r.version))], 'b');
    right.applyChanges(
      [
        change('STUDENT', gone, 2, {}, 'DELETE'),
        ...rows.slice(0, 10).map((r) => studentChange(r.id, r.version)),
      ],
      'c',
    );
    expect(right.checksums()).toEqual(left.checksums());
    expect(left.checksums().STUDENT).toEqual(checksumOf(rows.map((r) => [r.id, r.version] as const)));
    expect(Object.keys(left.checksums())).toEqual([...ENTITY_TYPES]);

    right.applyChanges([studentChange(rows[0]!.id, 10_000)], 'd');
    expect(right.checksums(['STUDENT']).STUDENT?.sum).not.toBe(left.checksums(['STUDENT']).STUDENT?.sum);
    expect(right.checksums(['STUDENT']).STUDENT?.count).toBe(500);
  });
});

describe('desk store: screen queries', () => {
  let desk: ReturnType<typeof tempDesk>;
  beforeEach(() => {
    desk = tempDesk();
  });
  afterEach(() => desk.cleanup());

  it('every screen query reads through the index of its filter, never a scan of the whole type', () => {
    desk.open().close();
    const db = new Database(desk.path(), { readonly: true });
    const expected: Record<string, RegExp> = {
      get: /sqlite_autoindex_entities_1 \(entity_type=\? AND id=\?\)/,
      list: /sqlite_autoindex_entities_1 \(entity_type=\?\)/,
      count: /sqlite_autoindex_entities_1 \(entity_type=\?\)/,
      studentsOfClass: /entities_by_class \(entity_type=\? AND class_id=\?\)/,
      gradesOfExam: /entities_by_exam \(entity_type=\? AND exam_id=\?\)/,
      gradesOfStudent: /entities_by_student \(entity_type=\? AND student_id=\?\)/,
      paymentsOfStudent: /entities_by_student \(entity_type=\? AND student_id=\?\)/,
      attendanceOfClass: /entities_by_class \(entity_type=\? AND class_id=\? AND on_date=\?\)/,
      absencesOfStudent: /entities_by_student \(entity_type=\? AND student_id=\?\)/,
      incidentsOfStudent: /entities_by_student \(entity_type=\? AND student_id=\?\)/,
      examsOfClass: /entities_by_class \(entity_type=\? AND class_id=\?\)/,
      classesOfYear: /entities_by_year \(entity_type=\? AND academic_year_id=\?\)/,
      search: /entities_by_name \(entity_type=\? AND search_key>\?\)/,
    };
    const queries = [...Object.entries(SCREEN_SQL), ['search', searchSql(2)] as const];
    expect(queries.map(([name]) => name).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, sql] of queries) {
      const params = (sql.match(/\?/g) ?? []).map(() => 'x');
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((row) => (row as { detail: string }).detail)
        .join(' | ');
      expect(plan, name).toMatch(new RegExp(`^SEARCH entities USING INDEX ${expected[name]?.source ?? '-'}`));
    }
    db.close();
  });

  it('screen queries return the live rows of a class, exam or student, in screen order', () => {
    const store = desk.open();
    const [classA, classB, exam, year] = [uuid(), uuid(), uuid(), uuid()];
    const [zoe, emile, adam, left] = [uuid(), uuid(), uuid(), uuid()];
    store.applyChanges(
      [
        studentChange(zoe, 1, { firstName: 'Zoé', lastName: 'Martin', classId: classA }),
        studentChange(emile, 2, { firstName: 'Émile', lastName: 'Durand', classId: classA }),
        studentChange(adam, 3, { firstName: 'Adam', lastName: 'Bernard', classId: classB }),
        studentChange(left, 4, { firstName: 'Gone', lastName: 'Aaron', classId: classA }),
        change('STUDENT', left, 5, {}, 'DELETE'),
        change('CLASS', classA, 6, { name: '6e A', schoolLevelId: uuid(), academicYearId: year }),
        change('CLASS', classB, 7, { name: '5e B', schoolLevelId: uuid(), academicYearId: year }),
        change('EXAM', exam, 8, { classId: classA, subject: 'Maths', date: '2024-10-01', maxScore: 20 }),
        change('GRADE', uuid(), 9, { examId: exam, studentId: zoe, score: 14 }),
        change('GRADE', uuid(), 10, { examId: exam, studentId: emile, score: 17 }),
        change('PAYMENT', uuid(), 11, {
          studentId: zoe,
          amountCents: 100,
          currency: 'EUR',
          paidAt: '2024-09-01T08:00:00Z',
          method: 'CASH',
        }),
        change('PAYMENT', uuid(), 12, {
          studentId: zoe,
          amountCents: 200,
          currency: 'EUR',
          paidAt: '2024-10-01T08:00:00Z',
          method: 'CASH',
        }),
        change('ATTENDANCE', uuid(), 13, {
          studentId: zoe,
          classId: classA,
          date: '2024-10-02',
          status: 'LATE',
        }),
        change('ATTENDANCE', uuid(), 14, {
          studentId: emile,
          classId: classA,
          date: '2024-10-03',
          status: 'PRESENT',
        }),
        change('ABSENCE', uuid(), 15, { studentId: zoe, date: '2024-10-04', reason: 'flu', justified: true }),
        change('DISCIPLINARY_INCIDENT', uuid(), 16, {
          studentId: zoe,
          date: '2024-10-05',
          description: 'late',
          severity: 'LOW',
        }),
      ],
      'c',
    );
    expect(store.studentsOfClass(classA).map((s) => s.firstName)).toEqual(['Émile', 'Zoé']);
    expect(store.classesOfYear(year).map((c) => c.name)).toEqual(['5e B', '6e A']);
    expect(store.examsOfClass(classA).map((e) => e.id)).toEqual([exam]);
    expect(
      store
        .gradesOfExam(exam)
        .map((g) => g.score)
        .sort(),
    ).toEqual([14, 17]);
    expect(store.gradesOfStudent(emile).map((g) => g.score)).toEqual([17]);
    expect(store.paymentsOfStudent(zoe).map((p) => p.amountCents)).toEqual([200, 100]);
    expect(store.attendanceOfClass(classA, '2024-10-02').map((a) => a.status)).toEqual(['LATE']);
    expect(store.absencesOfStudent(zoe).map((a) => a.reason)).toEqual(['flu']);
    expect(store.incidentsOfStudent(zoe).map((i) => i.severity)).toEqual(['LOW']);
    expect(store.list('STUDENT')).toHaveLength(3);
    expect(store.count('STUDENT')).toBe(3);
    expect(store.get('STUDENT', left)).toBeUndefined();
  });

  it('the name search ignores case and accents and matches the start of any name word', () => {
    const store = desk.open();
    const names = [
      ['Émilie', 'Dupont'],
      ['Emile', 'Le Gall'],
      ['Paul', 'Dupont-Émery'],
      ['Zoé', 'Martin'],
      ['Awa', "N'Diaye"],
    ];
    store.applyChanges(
      names.map(([firstName, lastName], i) => studentChange(uuid(), i + 1, { firstName, lastName })),
      'c',
    );
    const search = (text: string): string[] =>
      store.searchStudents(text).map((s) => `${s.firstName} ${s.lastName}`);
    expect(search('emil')).toEqual(['Émilie Dupont', 'Emile Le Gall']);
    expect(search('DUP emi')).toEqual(['Émilie Dupont']);
    expect(search('dup em')).toEqual(['Paul Dupont-Émery', 'Émilie Dupont']);
    expect(search('emery')).toEqual(['Paul Dupont-Émery']);
    expect(search('ndiaye')).toEqual(["Awa N'Diaye"]);
    expect(search('gall')).toEqual(['Emile Le Gall']);
    expect(search('zoe')).toEqual(['Zoé Martin']);
    expect(search('artin')).toEqual([]);
    expect(search('%')).toEqual([]);
    expect(search('   ')).toEqual([]);
    const local = store.create('STUDENT', { firstName: 'Çédric', lastName: 'Noël' }).entity;
    expect(store.searchStudents('noel ced').map((s) => s.id)).toEqual([local.id]);
  });
});
