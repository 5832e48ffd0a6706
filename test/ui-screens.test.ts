import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './support/db.ts';
import { UiDesk } from './support/ui-desk.ts';

/**
 * The school desk's screens beyond students, in real headless Chromium over a real desk and a real server.
 * Each test makes something through the UI and checks it reached the server's table. The tests run in order
 * and share one desk: the class made first is used by the later screens.
 */
describe('desk screens in Chromium', () => {
  let ui: UiDesk;
  let classId = '';
  let examId = '';

  const idOf = async (selector: string): Promise<string> => {
    const row = await ui.page.waitForSelector(selector);
    const id = (await row.getAttribute('data-id')) ?? '';
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    return id;
  };
  const onServer = (table: string, id: string) =>
    waitFor(() => ui.serverRow(table, id), { message: `${table} ${id} on the server` });

  beforeAll(async () => {
    ui = await UiDesk.start();
    await ui.page.waitForSelector('[data-test=connection].online');
  });
  afterAll(async () => {
    await ui?.close();
  });

  it('classes — a school year, a level and a class made in the UI reach the server', async () => {
    const { page } = ui;
    await page.click('[data-test=tab-classes]');
    await page.waitForSelector('[data-test=class-screen]');

    await ui.fill('year-form', { label: '2025-2026', startDate: '2025-09-01', endDate: '2026-07-03' });
    await page.click('[data-test=year-form] [data-test=save]');
    const yearId = await idOf('[data-test=year-row]:has-text("2025-2026")');
    await ui.fill('level-form', { name: 'Grade 3', rank: '3' });
    await page.click('[data-test=level-form] [data-test=save]');
    const levelId = await idOf('[data-test=level-row]:has-text("Grade 3")');

    await page.click('[data-test=new-class]');
    await ui.fill('class-form', { name: '3B', schoolLevelId: levelId, academicYearId: yearId });
    await page.click('[data-test=class-form] [data-test=save]');
    classId = await idOf('[data-test=class-row]:has-text("3B")');
    expect(await page.textContent(`[data-test=class-row][data-id="${classId}"]`)).toContain('Grade 3');

    // The year filter lists the classes of that year.
    await page.selectOption('[data-test=class-year-filter]', yearId);
    await page.waitForSelector(`[data-test=class-row][data-id="${classId}"]`);

    expect(await onServer('classes', classId)).toMatchObject({
      name: '3B',
      school_level_id: levelId,
      academic_year_id: yearId,
    });
    expect(await onServer('academic_years', yearId)).toMatchObject({
      label: '2025-2026',
      start_date: '2025-09-01',
      end_date: '2026-07-03',
    });
    expect(await onServer('school_levels', levelId)).toMatchObject({ name: 'Grade 3', rank: 3 });

    // A class needs a level and a year: the form says so under each.
    await page.click('[data-test=new-class]');
    await ui.fill('class-form', { name: '3C' });
    await page.click('[data-test=class-form] [data-test=save]');
    await expect
      .poll(() => page.textContent('[data-test=class-form] [data-error-for=schoolLevelId]'))
      .toBe('Please choose a level.');
    await ui.screenshot('desk-classes.png', true);
    await page.click('[data-test=class-form] button:has-text("Cancel")');
  });

  it('teachers — a teacher made in the UI reaches the server; search finds her', async () => {
    const { page } = ui;
    await page.click('[data-test=tab-teachers]');
    await page.click('[data-test=new-teacher]');
    await ui.fill('teacher-form', { firstName: 'Mariam', lastName: 'Koné', email: 'not an email' });
    await page.click('[data-test=teacher-form] [data-test=save]');
    await expect
      .poll(() => page.textContent('[data-test=teacher-form] [data-error-for=email]'))
      .toContain('valid email');
    await ui.fill('teacher-form', { email: 'mariam.kone@school.org' });
    await page.click('[data-test=teacher-form] [data-test=save]');
    const teacherId = await idOf('[data-test=teacher-row]:has-text("Koné")');
    ui.desk.store.create('TEACHER', { firstName: 'Paul', lastName: 'Mensah', email: null });
    await page.waitForSelector('[data-test=teacher-row]:has-text("Mensah")');
    await page.fill('[data-test=teacher-search]', 'kone');
    await expect.poll(() => page.locator('[data-test=teacher-row]').count()).toBe(1);

    expect(await onServer('teachers', teacherId)).toMatchObject({
      first_name: 'Mariam',
      last_name: 'Koné',
      email: 'mariam.kone@school.org',
    });
    await page.fill('[data-test=teacher-search]', '');
    await page.waitForSelector('[data-test=teacher-row]:has-text("Mensah")');
    await ui.screenshot('desk-teachers.png');
  });

  it('exams and grades — an exam and a score entered in the UI reach the server', async () => {
    const { page } = ui;
    for (const [firstName, lastName] of [
      ['Awa', 'Diallo'],
      ['Lucas', 'Martin'],
    ] as const) {
      ui.desk.store.create('STUDENT', { firstName, lastName, classId });
    }
    await page.click('[data-test=tab-exams]');
    await page.selectOption('[data-test=exam-screen] [data-test=pick-class]', classId);
    await page.click('[data-test=new-exam]');
    await ui.fill('exam-form', { subject: 'Mathematics', date: '2025-10-10', maxScore: '20' });
    await page.click('[data-test=exam-form] [data-test=save]');
    examId = await idOf('[data-test=exam-row]:has-text("Mathematics")');
    await page.click(`[data-test=exam-row][data-id="${examId}"] [data-test=open-grades]`);

    const awa = page.locator('[data-test=grade-row]', { hasText: 'Diallo' });
    await awa.locator('[data-test=score-input]').fill('15,5');
    await awa.locator('[data-test=save-grade]').click();
    await expect.poll(() => ui.desk.store.count('GRADE')).toBe(1);
    const grade = ui.desk.store.list('GRADE')[0];
    expect(grade).toMatchObject({ examId, score: 15.5 });
    expect(await onServer('grades', grade?.id ?? '')).toMatchObject({ exam_id: examId, score: 15.5 });
    expect(await onServer('exams', examId)).toMatchObject({
      class_id: classId,
      subject: 'Mathematics',
      date: '2025-10-10',
      max_score: 20,
    });
    await expect.poll(() => awa.locator('[data-test=score-input]').inputValue()).toBe('15.5');
  });

  it('grades — a score over the maximum or not a number is shown next to the field; nothing is saved', async () => {
    const { page } = ui;
    const lucas = page.locator('[data-test=grade-row]', { hasText: 'Martin' });
    const error = lucas.locator('[data-error-for=score]');
    // Typed and saved again until the row shows the message: in one loaded run the typed score was gone
    // when Save was clicked (the row said "Please fill this in."), most likely a redraw of the panel as the
    // previous test's grade was acknowledged; the cause is not pinned down.
    const saveShows = async (typed: string, message: string): Promise<void> => {
      await expect
        .poll(async () => {
          await lucas.locator('[data-test=score-input]').fill(typed);
          await lucas.locator('[data-test=save-grade]').click();
          return error.textContent();
        })
        .toBe(message);
    };
    await saveShows('25', 'Please enter a score between 0 and 20.');
    expect(await lucas.locator('[data-test=score-input]').getAttribute('class')).toContain('invalid');

    await saveShows('twelve', 'Please enter a number.');
    expect(ui.desk.store.count('GRADE')).toBe(1);

    // A score the form cannot check (the desk's store wrote it directly): the server refuses it and the row
    // says why.
    const lucasId = (await lucas.getAttribute('data-id')) ?? '';
    const refusedGrade = ui.desk.store.create('GRADE', { examId, studentId: lucasId, score: 30 }).entity.id;
    const refusedWords =
      "The school server refused this score: must be between 0 and the exam's highest score (20)";
    await expect.poll(() => error.textContent(), { timeout: 30_000 }).toContain(refusedWords);
    // Once the desk compares checksums with the server it drops the refused grade (the server has no such
    // row); the row still shows the score she typed and why it was refused, until she corrects it.
    ui.desk.sync?.requestCheck();
    await waitFor(() => ui.desk.store.count('GRADE') === 1 || undefined, {
      message: 'the refused grade dropped by the checksum resync',
      timeoutMs: 30_000,
    });
    expect(ui.desk.store.get('GRADE', refusedGrade)).toBeUndefined();
    await expect.poll(() => lucas.locator('[data-test=score-input]').inputValue()).toBe('30');
    expect(await error.textContent()).toContain(refusedWords);
    await ui.screenshot('desk-grades.png');
  });

  /** Opens a tab and picks a student by searching her name. */
  const pickStudent = async (tab: string, search: string, name: string): Promise<string> => {
    const { page } = ui;
    await page.click(`[data-test=tab-${tab}]`);
    await page.fill(`[data-test=${tab}-screen] [data-test=pick-student-search]`, search);
    const button = page.locator('[data-test=pick-student]', { hasText: name });
    const id = (await button.getAttribute('data-id')) ?? '';
    await button.click();
    return id;
  };

  it('grades — a score typed but not saved survives a resync of the exams (the exam gone a moment): the panel stays open', async () => {
    const { page } = ui;
    const lucas = page.locator('[data-test=grade-row]', { hasText: 'Martin' });
    await lucas.locator('[data-test=score-input]').fill('13');
    // A stray exam row written behind the store: the checksum check downloads EXAM again, which takes the
    // rows of the type away and brings them back.
    const stray = randomUUID();
    const sqlite = new Database(ui.desk.path);
    try {
      sqlite
        .prepare(
          `INSERT INTO entities (entity_type, id, tenant_id, server_version, doc) VALUES ('EXAM', ?, ?, 1, ?)`,
        )
        .run(stray, ui.desk.tenantId, JSON.stringify({ id: stray, subject: 'Stray' }));
    } finally {
      sqlite.close();
    }
    ui.desk.sync?.requestCheck();
    await waitFor(
      () =>
        (ui.desk.store.get('EXAM', stray) === undefined && ui.desk.store.get('EXAM', examId) !== undefined) ||
        undefined,
      { message: 'EXAM downloaded again (the stray row gone, the exam back)', timeoutMs: 30_000 },
    );
    await expect.poll(() => page.isVisible('[data-test=grades]')).toBe(true);
    expect(await lucas.locator('[data-test=score-input]').inputValue()).toBe('13');
    await lucas.locator('[data-test=score-input]').fill('');
  });

  it('the student picker lists a student the desk receives after the search was typed, without typing again', async () => {
    const { page } = ui;
    await page.click('[data-test=tab-payments]');
    const search = page.locator('[data-test=payments-screen] [data-test=pick-student-search]');
    await search.fill('zeyn');
    await expect
      .poll(() => page.textContent('[data-test=payments-screen] .matches'))
      .toBe('No student matches.');
    const zeynab = ui.desk.store.create('STUDENT', { firstName: 'Zeynab', lastName: 'Sow' });
    await page.waitForSelector(`[data-test=pick-student][data-id="${zeynab.entity.id}"]`);
    expect(await search.inputValue()).toBe('zeyn');
    await search.fill('');
  });

  it('payments — a payment of 12,50 entered in the UI reaches the server as 1250 cents', async () => {
    const { page } = ui;
    const awaId = await pickStudent('payments', 'awa', 'Diallo');
    await ui.fill('payment-form', { amount: 'a lot', currency: 'EUR' });
    await page.click('[data-test=payment-form] [data-test=save]');
    await expect
      .poll(() => page.textContent('[data-test=payment-form] [data-error-for=amount]'))
      .toBe('Please enter an amount, like 12.50.');

    await ui.fill('payment-form', {
      amount: '12,50',
      currency: 'xof',
      method: 'Mobile money',
      paidOn: '2025-10-01',
    });
    await page.click('[data-test=payment-form] [data-test=save]');
    // Amounts and days as the desk's locale (en-GB here) writes them.
    const paymentId = await idOf('[data-test=payment-row]:has-text("12.50")');
    const shown = await page.textContent(`[data-test=payment-row][data-id="${paymentId}"]`);
    expect(shown).toContain('01/10/2025');
    expect(shown).toMatch(/F\sCFA\s12\.50/);
    const row = await onServer('payments', paymentId);
    expect(row).toMatchObject({
      student_id: awaId,
      amount_cents: 1250,
      currency: 'XOF',
      method: 'Mobile money',
    });
    expect(new Date(String(row?.paid_at)).toISOString()).toBe(new Date('2025-10-01T12:00:00').toISOString());
    await ui.screenshot('desk-payments.png');
  });

  it('attendance — the roll call of a class for a day reaches the server, one row per student', async () => {
    const { page } = ui;
    await page.click('[data-test=tab-attendance]');
    await page.selectOption('[data-test=attendance-screen] [data-test=pick-class]', classId);
    await page.fill('[data-test=attendance-date]', '2025-10-06');
    await page.dispatchEvent('[data-test=attendance-date]', 'change');
    const lucas = page.locator('[data-test=attendance-row]', { hasText: 'Martin' });
    await lucas.locator('[data-test=mark-late]').check();
    await page.click('[data-test=save-attendance]');
    await expect.poll(() => ui.desk.store.attendanceOfClass(classId, '2025-10-06').length).toBe(2);
    const marks = ui.desk.store.attendanceOfClass(classId, '2025-10-06');
    const lucasId = (await lucas.getAttribute('data-id')) ?? '';
    for (const mark of marks) {
      expect(await onServer('attendances', mark.id)).toMatchObject({
        class_id: classId,
        date: '2025-10-06',
        student_id: mark.studentId,
        status: mark.studentId === lucasId ? 'LATE' : 'PRESENT',
      });
    }
    // Changing a mark updates the same row.
    const awa = page.locator('[data-test=attendance-row]', { hasText: 'Diallo' });
    await awa.locator('[data-test=mark-absent]').check();
    await page.click('[data-test=save-attendance]');
    const awaMark = marks.find((m) => m.studentId !== lucasId);
    await waitFor(async () => (await ui.serverRow('attendances', awaMark?.id ?? ''))?.status === 'ABSENT', {
      message: 'absent on the server',
    });
    expect(ui.desk.store.attendanceOfClass(classId, '2025-10-06')).toHaveLength(2);
    await expect.poll(() => lucas.locator('[data-test=mark-late]').isChecked()).toBe(true);
    await ui.screenshot('desk-attendance.png');
  });

  it('absences and incidents — one of each recorded in the UI reaches the server', async () => {
    const { page } = ui;
    const awaId = await pickStudent('absences', 'diallo', 'Diallo');
    await ui.fill('absence-form', { date: '2025-10-06', reason: '' });
    await page.click('[data-test=absence-form] [data-test=save]');
    await expect
      .poll(() => page.textContent('[data-test=absence-form] [data-error-for=reason]'))
      .toBe('Please say why, even briefly.');
    await ui.fill('absence-form', { reason: 'Fever, note from her mother' });
    await page.check('[data-test=absence-form] [name=justified]');
    await page.click('[data-test=absence-form] [data-test=save]');
    const absenceId = await idOf('[data-test=absence-row]:has-text("Fever")');

    await ui.fill('incident-form', {
      date: '2025-10-08',
      description: 'Broke a window playing football',
      severity: 'MEDIUM',
    });
    await page.click('[data-test=incident-form] [data-test=save]');
    const incidentId = await idOf('[data-test=incident-row]:has-text("window")');
    expect(await page.textContent(`[data-test=incident-row][data-id="${incidentId}"]`)).toContain('Serious');

    expect(await onServer('absences', absenceId)).toMatchObject({
      student_id: awaId,
      date: '2025-10-06',
      reason: 'Fever, note from her mother',
      justified: true,
    });
    expect(await onServer('disciplinary_incidents', incidentId)).toMatchObject({
      student_id: awaId,
      date: '2025-10-08',
      description: 'Broke a window playing football',
      severity: 'MEDIUM',
    });
    await ui.screenshot('desk-absences.png', true);
  });
});
