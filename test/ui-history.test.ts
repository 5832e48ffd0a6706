import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './support/db.ts';
import { UiDesk } from './support/ui-desk.ts';

/**
 * The History panel in real headless Chromium over a real desk and server: the grades screen and a
 * record's edit form say who changed it, when and from where; offline the panel says it needs the server
 * and shows the desk's own edits waiting to be sent.
 */
describe('History panel in Chromium', () => {
  let ui: UiDesk;
  let gradeId = '';
  let studentId = '';

  beforeAll(async () => {
    ui = await UiDesk.start();
    await ui.page.waitForSelector('[data-test=connection].online');
  });
  afterAll(async () => {
    await ui?.close();
  });

  it('the grades screen shows a grade entered on this desk and changed on the server, in plain words', async () => {
    const { page } = ui;
    const store = ui.desk.store;
    const year = store.create('ACADEMIC_YEAR', {
      label: '2026-2027',
      startDate: '2026-09-01',
      endDate: '2027-07-01',
    }).entity;
    const level = store.create('SCHOOL_LEVEL', { name: 'CM2', rank: 5 }).entity;
    const klass = store.create('CLASS', {
      name: 'CM2 A',
      schoolLevelId: level.id,
      academicYearId: year.id,
    }).entity;
    studentId = store.create('STUDENT', { firstName: 'Awa', lastName: 'Diallo', classId: klass.id }).entity
      .id;
    const exam = store.create('EXAM', {
      classId: klass.id,
      subject: 'Maths',
      date: '2026-11-20',
      maxScore: 20,
    }).entity;
    // The five records reach the server first: their acknowledgements redraw the screens, which would
    // otherwise wipe a score typed in between (seen on a loaded machine).
    await waitFor(
      () => {
        const counts = store.outboxCounts();
        return counts.PENDING === 0 && counts.SENT === 0 && counts.ACKNOWLEDGED === 5;
      },
      { message: 'the desk uploads its five records' },
    );
    await page.click('[data-test=tab-exams]');
    await page.selectOption('[data-test=exam-screen] [data-test=pick-class]', klass.id);
    await page.click(`[data-test=exam-row][data-id="${exam.id}"] [data-test=open-grades]`);
    const awa = page.locator('[data-test=grade-row]', { hasText: 'Diallo' });
    await awa.locator('[data-test=score-input]').fill('12');
    await expect.poll(() => awa.locator('[data-test=score-input]').inputValue()).toBe('12');
    await awa.locator('[data-test=save-grade]').click();
    await expect.poll(() => store.count('GRADE')).toBe(1);
    gradeId = String(store.list('GRADE')[0]?.id);
    await waitFor(() => ui.serverRow('grades', gradeId), { message: 'the grade reaches the server' });

    // The web app corrects the score on the server; the desk receives it.
    await ui.db.pool.query('UPDATE grades SET score = 13 WHERE tenant_id = $1 AND id = $2', [
      ui.tenant,
      gradeId,
    ]);
    await expect.poll(() => awa.locator('[data-test=score-input]').inputValue()).toBe('13');

    await awa.locator('[data-test=grade-history]').click();
    const entries = page.locator('[data-test=history] [data-test=history-entry]');
    await expect.poll(() => entries.count()).toBe(2);
    const [newest, oldest] = await entries.allTextContents();
    expect(newest).toMatch(/^Changed on the server \(web app\): Score 12 → 13, on \d{1,2} \w{3} \d\d:\d\d$/);
    expect(oldest).toMatch(/^Created: Score 12, by user-desk on this desk, on \d{1,2} \w{3} \d\d:\d\d$/);
    expect(await page.getAttribute('[data-test=history-entry] >> nth=0', 'data-origin')).toBe('SERVER');
    await ui.screenshot('desk-history.png', true);
  });

  it("a student's edit form has a History panel; offline it says so and lists the desk's own waiting edits", async () => {
    const { page } = ui;
    await page.click('[data-test=tab-students]');
    await page.click(`[data-test=student-row][data-id="${studentId}"] [data-test=edit]`);
    await page.click('[data-test=student-form] ~ [data-test=history] [data-test=history-toggle]');
    await expect
      .poll(() => page.textContent('[data-test=history] [data-test=history-entry]'))
      .toMatch(
        /^Created: First name Awa; Last name Diallo; Birth date —; Notes —, by user-desk on this desk/,
      );

    await ui.server.stop();
    await page.waitForSelector('[data-test=connection].offline', { timeout: 10_000 });
    await ui.fillStudent({ lastName: 'Diallo-Sy' });
    await page.click('[data-test=save]');
    await page.waitForSelector('[data-test=pending][data-count="1"]');
    await page.click(`[data-test=student-row][data-id="${studentId}"] [data-test=edit]`);
    await page.click('[data-test=history] [data-test=history-toggle]');
    await expect
      .poll(() => page.textContent('[data-test=history-offline]'))
      .toBe('History needs the server. The server cannot be reached: you are offline.');
    expect(await page.textContent('[data-test=history-pending]')).toMatch(
      /Last name → Diallo-Sy.*, edited here on \d{1,2} \w{3} \d\d:\d\d \(not sent yet\)/,
    );
    await ui.screenshot('desk-history-offline.png', true);
    await ui.server.start();
    await page.waitForSelector('[data-test=pending][data-count="0"]', { timeout: 15_000 });
  });
});
