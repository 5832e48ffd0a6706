import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncStatus } from '../desktop/sync/index.ts';
import { UiDesk } from './support/ui-desk.ts';

/**
 * The desk in French and in English (issue 13): the language comes from the system locale (here fr-SN, as
 * in Dakar) and the setting changes it; dates, numbers and amounts follow the locale and the school's
 * currency; the server's refusals and the form's messages are said in the desk's language; the status bar
 * stays one line at 1 100 px whatever it says. Screenshots of each main screen in both languages.
 */
describe('desk UI in French and in English', () => {
  let ui: UiDesk;
  let classId = '';
  let studentId = '';
  let ghostEvent = '';

  const shot = (name: string) => ui.screenshot(name, true);

  /** Opens a tab and, on the student-record screens, picks Awa. */
  const open = async (tab: string) => {
    const { page } = ui;
    await page.click(`[data-test=tab-${tab}]`);
    if (tab === 'payments' || tab === 'absences') {
      // Typed once: while a resync refills the students (the checksum check after a refused create
      // downloads the type again) the picker lists her as soon as the desk holds her again.
      await page.fill(`[data-test=${tab}-screen] [data-test=pick-student-search]`, 'awa');
      await page.click(`[data-test=pick-student][data-id="${studentId}"]`, { timeout: 30_000 });
    }
    if (tab === 'exams' || tab === 'attendance') {
      await page.locator('[data-test=pick-class]').selectOption(classId);
    }
    if (tab === 'exams') {
      await page.click('[data-test=exam-row] [data-test=open-grades]');
      await page.waitForSelector('[data-test=grade-row]');
    }
  };

  /** Every main screen as it is now, one screenshot each: `desk-<lang>-<tab>.png`. */
  const screens = async (lang: string) => {
    for (const tab of [
      'students',
      'classes',
      'teachers',
      'exams',
      'payments',
      'attendance',
      'absences',
      'conflicts',
    ]) {
      await open(tab);
      await shot(`desk-${lang}-${tab}.png`);
    }
  };

  /** The bar's height and how many distinct lines its parts sit on. */
  /**
   * The bar's height, whether each of its parts sits inside it (none wrapped below), whether anything spills
   * out sideways, and how many parts would need a second line (the ellipsis cuts them; the title has all).
   */
  const barLines = () =>
    ui.page.evaluate(`(() => {
      const bar = document.querySelector('[data-test=status-bar]');
      const box = bar.getBoundingClientRect();
      const parts = [...bar.children].filter((el) => !el.hidden && el.dataset.test !== 'status-drawer');
      const outside = parts.filter((el) => {
        const r = el.getBoundingClientRect();
        return r.top < box.top || r.bottom > box.bottom || r.right > box.right;
      }).length;
      const overflowing = parts.filter((el) => el.scrollHeight > el.clientHeight + 1).length;
      return { height: box.height, outside, spills: bar.scrollWidth > bar.clientWidth, overflowing };
    })()`);

  beforeAll(async () => {
    ui = await UiDesk.start({ locale: 'fr-SN' });
    const { store } = ui.desk;
    const year = store.create('ACADEMIC_YEAR', {
      label: '2025-2026',
      startDate: '2025-09-01',
      endDate: '2026-07-03',
    });
    const level = store.create('SCHOOL_LEVEL', { name: 'CE2', rank: 3 });
    const klass = store.create('CLASS', {
      name: 'CE2 A',
      schoolLevelId: level.entity.id,
      academicYearId: year.entity.id,
    });
    classId = klass.entity.id;
    const awa = store.create('STUDENT', {
      firstName: 'Awa',
      lastName: 'Diallo',
      birthDate: '2014-03-21',
      classId,
    });
    studentId = awa.entity.id;
    store.create('TEACHER', { firstName: 'Mariam', lastName: 'Koné', email: 'mariam.kone@ecole.sn' });
    const exam = store.create('EXAM', {
      classId,
      subject: 'Mathématiques',
      date: '2025-10-10',
      maxScore: 20,
    });
    // Scores the form cannot check (the store writes them directly): the server refuses 25 out of 20.
    store.create('GRADE', { examId: exam.entity.id, studentId, score: 25 });
    store.create('PAYMENT', {
      studentId,
      amountCents: 1_500_000,
      currency: 'XOF',
      paidAt: '2025-10-01T10:00:00.000Z',
      method: 'Mobile money',
    });
    store.create('ABSENCE', { studentId, date: '2025-10-02', reason: 'Paludisme', justified: true });
    // A class that does not exist on the server: refused (REFERENCE_MISSING).
    ghostEvent = store.create('STUDENT', {
      firstName: 'Fantôme',
      lastName: 'Sans classe',
      classId: '00000000-0000-4000-8000-00000000c1a5',
    }).outboxEventId;
    await ui.page.waitForSelector('[data-test=refused][data-count="2"]', { timeout: 20_000 });
  });
  afterAll(async () => {
    await ui?.close();
  });

  it('French from the system locale: words, dates, amounts and the server refusals in French', async () => {
    const { page } = ui;
    expect(await page.getAttribute('html', 'lang')).toBe('fr-SN');
    expect(await page.title()).toBe("Poste de l'école");
    // The refused grade's reason shows in its row, whether or not the checksum resync has dropped it yet.
    await open('exams');
    await expect
      .poll(() => page.textContent('[data-test=grade-row] [data-error-for=score]'))
      .toBe(
        "Le serveur de l'école a refusé cette note : doit être comprise entre 0 et la note maximale du devoir (20).",
      );
    expect(await page.textContent('[data-test=grades] h2')).toBe(
      'Notes : Mathématiques, 10/10/2025 (sur 20)',
    );

    expect(await page.textContent('[data-test=tab-students]')).toBe('Élèves');
    expect(await page.textContent('[data-test=refused]')).toBe(
      '2 modifications refusées par le serveur (voir Conflits)',
    );
    await page.click('[data-test=tab-students]');
    const awa = page.locator(`[data-test=student-row][data-id="${studentId}"]`);
    await expect.poll(() => awa.textContent()).toContain('21/03/2014');

    await open('payments');
    await expect.poll(() => page.textContent('[data-test=payment-row]')).toMatch(/15\s000\sF\sCFA/);
    expect(await page.textContent('[data-test=payment-row]')).toContain('01/10/2025');
    expect(await page.textContent('[data-test=payment-row]')).toContain('Mobile money');
    // The school's currency of a Senegalese desk: XOF, with its example amount.
    expect(await page.inputValue('[data-test=payment-form] [name=currency]')).toBe('XOF');
    await page.click('[data-test=payment-form] [data-test=save]');
    await expect
      .poll(() => page.textContent('[data-test=payment-form] [data-error-for=amount]'))
      .toMatch(/^Veuillez saisir un montant, comme 15\s000\.$/);

    await open('conflicts');
    const refusal = page.locator(`[data-test=refusal-row][data-id="${ghostEvent}"]`);
    expect(await refusal.locator('strong').textContent()).toBe('Élève Fantôme Sans classe');
    expect(await refusal.locator('[data-test=refusal-reason]').textContent()).toBe(
      "Classe : désigne un élément qui n'existe pas sur le serveur (supprimé entre-temps ?)",
    );
    // The server's English reason stays beside it for whoever needs it.
    expect(await refusal.locator('[data-test=refusal-reason]').getAttribute('title')).toContain(
      'does not exist',
    );

    // The form's messages from the shared schema, in French.
    await page.click('[data-test=tab-students]');
    await page.click('[data-test=new-student]');
    await page.click('[data-test=student-form] [data-test=save]');
    await expect
      .poll(() => page.textContent('[data-test=student-form] [data-error-for=firstName]'))
      .toBe('Veuillez remplir ce champ.');
    await page.fill('[data-test=student-form] [name=firstName]', 'x');
    await page.click('[data-test=student-form] button:has-text("Annuler")');

    await screens('fr');
  });

  it('the status bar stays one line at 1 100 px with a progress bar and a long error, in both languages', async () => {
    const { page } = ui;
    const real = ui.desk.sync;
    const long: SyncStatus = {
      ...(real?.status as SyncStatus),
      activity: 'catching-up',
      online: true,
      progress: { kind: 'catch-up', done: 12_000, total: 48_000, pages: 12 },
      pending: 3,
      held: 2,
      lastSyncAt: '2026-03-21T08:15:06.000Z',
      lastError: {
        code: 'SOMETHING_NEW',
        message: `A long message from the desk core: ${'the server said something very long; '.repeat(8)}`,
        at: '2026-03-21T08:15:06.000Z',
      },
    };
    ui.status.use({ status: long, onStatus: () => () => undefined });
    for (const lang of ['fr', 'en']) {
      if (lang === 'en') {
        // The setting: kept in the desk's profile, the page starts again in English.
        await page.selectOption('[data-test=language]', 'en');
        await page.waitForSelector('[data-test=tab-students]:has-text("Students")');
      }
      await page.waitForSelector('[data-test=progress]');
      const expected =
        lang === 'fr' ? /^ Mise à jour : 12\s000 sur 48\s000$/ : /^ Updating: 12,000 of 48,000$/;
      expect(await page.textContent('[data-test=progress] .progress-text')).toMatch(expected);
      expect(await page.getAttribute('[data-test=progress] progress', 'value')).toBe('12000');
      expect(await page.textContent('[data-test=refused]')).not.toBeNull();
      const lines = await barLines();
      expect(lines).toEqual({ height: 38, outside: 0, spills: false, overflowing: 0 });
      // Everything it cuts short is there in full on hover and in the drawer.
      const error = await page.getAttribute('[data-test=last-error]', 'title');
      expect(error).toContain('the server said something very long');
      await page.click('[data-test=status-details]');
      expect(await page.textContent('[data-test=status-drawer]')).toContain(error ?? '?');
      await ui.screenshot(`desk-${lang}-status-bar.png`);
      await page.click('[data-test=status-details]');
      expect(await page.isHidden('[data-test=status-drawer]')).toBe(true);
    }
    ui.status.use(real);
    await page.waitForSelector('[data-test=progress]', { state: 'detached' });
  });

  it('English from the setting: the same screens, in English words and en-GB formats', async () => {
    const { page } = ui;
    await page.reload();
    expect(await page.textContent('[data-test=tab-students]')).toBe('Students');
    expect(await page.textContent('[data-test=refused]')).toBe(
      '2 changes refused by the server (see Conflicts)',
    );
    await page.click('[data-test=tab-students]');
    await expect
      .poll(() => page.textContent(`[data-test=student-row][data-id="${studentId}"]`))
      .toContain('21/03/2014');
    await open('payments');
    await expect.poll(() => page.textContent('[data-test=payment-row]')).toMatch(/F\sCFA\s15,000/);
    await open('conflicts');
    expect(
      await page.textContent(`[data-test=refusal-row][data-id="${ghostEvent}"] [data-test=refusal-reason]`),
    ).toBe('Class: refers to a record that does not exist on the server (deleted meanwhile?)');
    await screens('en');
    // Back to French, as the desk will be used.
    await page.selectOption('[data-test=language]', 'fr');
    await page.waitForSelector('[data-test=tab-students]:has-text("Élèves")');
  });

  it('French plurals: "1 modification en attente", "2 modifications en attente"', async () => {
    const { page } = ui;
    await ui.server.stop();
    await page.waitForSelector('[data-test=connection].offline', { timeout: 10_000 });
    await expect
      .poll(() => page.textContent('[data-test=connection]'), { timeout: 10_000 })
      .toBe('Hors ligne');
    ui.desk.store.update('STUDENT', studentId, { notes: 'Assise au premier rang' });
    await expect.poll(() => page.textContent('[data-test=pending]')).toBe('1 modification en attente');
    ui.desk.store.update('STUDENT', studentId, { notes: 'Assise au premier rang, près de la fenêtre' });
    await expect.poll(() => page.textContent('[data-test=pending]')).toBe('2 modifications en attente');
    await shot('desk-fr-offline.png');
    await ui.server.start();
    await page.waitForSelector('[data-test=pending][data-count="0"]', { timeout: 20_000 });
    expect(await page.textContent('[data-test=pending]')).toBe('Tout est envoyé');
  });
});
