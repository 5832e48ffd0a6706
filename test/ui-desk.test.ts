import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { signToken } from '../server/auth/tokens.ts';
import { DeskSync } from '../desktop/sync/index.ts';
import { silentLog, waitFor } from './support/db.ts';
import { FAST_SYNC } from './support/desk-client.ts';
import { startProxy } from './support/http-proxy.ts';
import { UiDesk } from './support/ui-desk.ts';

/**
 * The desk's renderer in real headless Chromium, served by the harness over a real DeskStore (SQLite) and
 * DeskSync talking to a real server on a real Postgres. The tests run in order and share one desk.
 */
describe('desk UI in Chromium', () => {
  let ui: UiDesk;
  let awaId = '';

  /** Desk and server hold the same students (checksums equal). */
  const expectDeskEqualsServer = async () => {
    await ui.server.captured();
    await waitFor(
      async () =>
        JSON.stringify(ui.desk.store.checksums(['STUDENT'])) ===
        JSON.stringify(await ui.server.checksums(ui.tenant, ['STUDENT'])),
      { timeoutMs: 10_000, message: 'desk and server students equal' },
    );
  };

  const rowText = (id: string) => ui.page.textContent(`[data-test=student-row][data-id="${id}"]`);

  beforeAll(async () => {
    ui = await UiDesk.start();
  });
  afterAll(async () => {
    await ui?.close();
  });

  it('a student created in the UI is acknowledged on the server', async () => {
    const { page } = ui;
    await page.waitForSelector('[data-test=connection].online');
    await page.click('[data-test=new-student]');
    await ui.fillStudent({
      firstName: 'Awa',
      lastName: 'Diallo',
      birthDate: '2014-03-21',
      notes: 'Allergic to peanuts',
    });
    await page.click('[data-test=save]');
    const row = await page.waitForSelector('[data-test=student-row]:has-text("Diallo")');
    awaId = (await row.getAttribute('data-id')) ?? '';
    expect(awaId).toMatch(/^[0-9a-f-]{36}$/);

    await waitFor(() => ui.serverStudent(awaId), { message: 'student on the server' });
    expect(await ui.serverStudent(awaId)).toMatchObject({
      first_name: 'Awa',
      last_name: 'Diallo',
      birth_date: '2014-03-21',
      notes: 'Allergic to peanuts',
    });
    await waitFor(() => ui.desk.store.outboxCounts().ACKNOWLEDGED === 1, { message: 'acknowledged' });
    await page.waitForSelector('[data-test=pending][data-count="0"]');
    expect(await page.textContent('[data-test=last-sync]')).not.toContain('never');
  });

  it('a plain-SQL change on the server shows in the open page within a second, without reload', async () => {
    const { page } = ui;
    await waitFor(() => ui.desk.status?.live, { message: 'desk live' });
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 42;
    });
    await ui.db.pool.query("UPDATE students SET first_name = 'Awa-Marie' WHERE id = $1", [awaId]);
    const committed = Date.now();
    await page.waitForSelector(`[data-test=student-row][data-id="${awaId}"]:has-text("Awa-Marie")`, {
      timeout: 1_000,
    });
    expect(Date.now() - committed).toBeLessThan(1_000);
    // Same page, not reloaded.
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);

    // A fuller list for the screenshot of the main screen.
    for (const [firstName, lastName] of [
      ['Émile', 'Dupont-Émery'],
      ['Fatou', "N'Diaye"],
      ['Lucas', 'Martin'],
    ] as const) {
      ui.desk.store.create('STUDENT', { firstName, lastName, birthDate: '2013-09-02' });
    }
    await page.waitForSelector('[data-test=student-row]:has-text("Martin")');
    await page.waitForSelector('[data-test=pending][data-count="0"]');
    await ui.screenshot('desk-main.png');
  });

  it('form validation errors are shown next to the field', async () => {
    const { page } = ui;
    const before = ui.desk.store.count('STUDENT');
    await page.click('[data-test=new-student]');
    await ui.fillStudent({ firstName: '', lastName: '   ' });
    await page.click('[data-test=save]');
    const firstNameField = page.locator('label.field', { has: page.locator('[name=firstName]') });
    await expect
      .poll(() => firstNameField.locator('[data-error-for=firstName]').textContent())
      .toBe('Please fill this in.');
    const lastNameField = page.locator('label.field', { has: page.locator('[name=lastName]') });
    expect(await lastNameField.locator('[data-error-for=lastName]').textContent()).toBe(
      'Please fill this in.',
    );
    expect(await page.getAttribute('[name=firstName]', 'class')).toContain('invalid');
    // The valid fields carry no message, and nothing was written.
    expect(await page.textContent('[data-error-for=birthDate]')).toBe('');
    expect(ui.desk.store.count('STUDENT')).toBe(before);
    await ui.screenshot('desk-validation.png');

    await ui.fillStudent({ firstName: 'Ines', lastName: 'Bah' });
    await page.click('[data-test=save]');
    await page.waitForSelector('[data-test=student-row]:has-text("Bah")');
    expect(await page.locator('[data-test=student-form]').count()).toBe(0);
  });

  it('search narrows the list; edit and delete reach the server', async () => {
    const { page } = ui;
    await page.fill('[data-test=student-search]', 'emile');
    await expect.poll(() => page.locator('[data-test=student-row]').count()).toBe(1);
    expect(await page.textContent('[data-test=student-row]')).toContain('Dupont-Émery');
    await page.fill('[data-test=student-search]', '');
    await expect.poll(() => page.locator('[data-test=student-row]').count()).toBe(5);

    await page.click(`[data-test=student-row][data-id="${awaId}"] [data-test=edit]`);
    await ui.fillStudent({ notes: 'Peanut allergy; inhaler in the office' });
    await page.click('[data-test=save]');
    await waitFor(
      async () => (await ui.serverStudent(awaId))?.notes === 'Peanut allergy; inhaler in the office',
      {
        message: 'edit on the server',
      },
    );

    const bah = await page.getAttribute('[data-test=student-row]:has-text("Bah")', 'data-id');
    await page.click(`[data-test=student-row][data-id="${bah}"] [data-test=delete]`);
    await page.waitForSelector(`[data-test=student-row][data-id="${bah}"]`, { state: 'detached' });
    await waitFor(async () => (await ui.serverStudent(bah ?? '')) === undefined, {
      message: 'deleted on the server',
    });
  });

  it('server down: the page shows offline, edits still work and pending rises; back up: it falls to zero by itself', async () => {
    const { page } = ui;
    await ui.server.stop();
    await page.waitForSelector('[data-test=connection].offline', { timeout: 10_000 });
    expect(await page.textContent('[data-test=last-error]')).toContain('cannot be reached');

    await page.click(`[data-test=student-row][data-id="${awaId}"] [data-test=edit]`);
    await ui.fillStudent({ lastName: 'Diallo-Sy' });
    await page.click('[data-test=save]');
    await page.waitForSelector('[data-test=pending][data-count="1"]');
    await page.click('[data-test=new-student]');
    await ui.fillStudent({ firstName: 'Moussa', lastName: 'Keita' });
    await page.click('[data-test=save]');
    await page.waitForSelector('[data-test=pending][data-count="2"]');
    expect(await page.textContent('[data-test=pending]')).toBe('2 changes waiting to be sent');
    expect(await rowText(awaId)).toContain('Diallo-Sy');
    await ui.screenshot('desk-offline.png');

    await ui.server.start();
    await page.waitForSelector('[data-test=pending][data-count="0"]', { timeout: 15_000 });
    await page.waitForSelector('[data-test=connection].online');
    expect(await page.locator('[data-test=last-error]').count()).toBe(0);
    expect((await ui.serverStudent(awaId))?.last_name).toBe('Diallo-Sy');
    await expectDeskEqualsServer();
  });

  /** Edits Awa here while the server is down and on the server meanwhile; returns once the dialog shows it. */
  /** `notes`: a second edit of the record, also made offline, which the same decision covers. */
  const makeConflict = async (mine: string, theirs: string, notes?: string) => {
    const { page } = ui;
    await page.click('[data-test=tab-students]');
    await ui.server.stop();
    await page.waitForSelector('[data-test=connection].offline', { timeout: 10_000 });
    const edit = async (fields: Record<string, string>): Promise<void> => {
      await page.click(`[data-test=student-row][data-id="${awaId}"] [data-test=edit]`);
      await ui.fillStudent(fields);
      await page.click('[data-test=save]');
      await page.waitForSelector('[data-test=student-form]', { state: 'detached' });
    };
    await edit({ firstName: mine });
    if (notes !== undefined) await edit({ notes });
    await ui.db.pool.query('UPDATE students SET first_name = $1 WHERE id = $2', [theirs, awaId]);
    await ui.server.start();
    await page.waitForSelector('[data-test=conflict-count]:text("1")', { timeout: 15_000 });
    await page.click('[data-test=tab-conflicts]');
    await page.click('[data-test=conflict-row] [data-test=review]');
    const dialog = page.locator('[data-test=conflict-dialog]');
    await dialog.waitFor({ state: 'visible' });
    const firstName = dialog.locator('tr[data-field=firstName]');
    expect(await firstName.getAttribute('class')).toContain('differs');
    expect(await firstName.locator('[data-test=mine]').textContent()).toBe(mine);
    expect(await firstName.locator('[data-test=theirs]').textContent()).toBe(theirs);
    expect(await dialog.locator('tr[data-field=lastName] [data-test=mine]').textContent()).toBe('Diallo-Sy');
    if (notes !== undefined) {
      expect(await dialog.locator('tr[data-field=notes] [data-test=mine]').textContent()).toBe(notes);
      expect(await dialog.locator('[data-test=edits]').textContent()).toContain('your 2 changes');
    }
    return dialog;
  };

  it('a conflict shows side by side, once for her two edits; "Keep mine" leaves desk and server equal with her version', async () => {
    const dialog = await makeConflict('Awa-Mine', 'Awa-Server', 'Second edit');
    await ui.screenshot('desk-conflict-dialog.png');
    await dialog.locator('[data-test=keep-mine]').click();
    await dialog.waitFor({ state: 'hidden' });
    await waitFor(
      () => ui.desk.store.conflicts().length === 0 && ui.desk.store.unsentResolutions().length === 0,
      {
        message: 'resolution answered',
      },
    );
    await waitFor(async () => (await ui.serverStudent(awaId))?.first_name === 'Awa-Mine', {
      message: 'server took hers',
    });
    expect(ui.desk.store.get('STUDENT', awaId)?.notes).toBe('Second edit');
    expect(ui.desk.store.get('STUDENT', awaId)?.firstName).toBe('Awa-Mine');
    await expectDeskEqualsServer();
    await ui.page.waitForSelector('[data-test=conflict-row]', { state: 'detached' });
  });

  it('"Take the server\'s" leaves desk and server equal with the server\'s version', async () => {
    const dialog = await makeConflict('Awa-Mine-2', 'Awa-Server-2');
    await dialog.locator('[data-test=take-server]').click();
    await dialog.waitFor({ state: 'hidden' });
    await waitFor(
      () => ui.desk.store.conflicts().length === 0 && ui.desk.store.unsentResolutions().length === 0,
      {
        message: 'resolution answered',
      },
    );
    expect(ui.desk.store.get('STUDENT', awaId)?.firstName).toBe('Awa-Server-2');
    expect((await ui.serverStudent(awaId))?.first_name).toBe('Awa-Server-2');
    await expectDeskEqualsServer();
    await ui.page.click('[data-test=tab-students]');
    await ui.page.waitForSelector(`[data-test=student-row][data-id="${awaId}"]:has-text("Awa-Server-2")`);
  });

  it('a change the server refuses shows in the status bar and under Conflicts with its reason until she dismisses it', async () => {
    const { page } = ui;
    // A class that does not exist on the server: the desk's own checks cannot know, the server refuses it.
    const ghost = ui.desk.store.create('STUDENT', {
      firstName: 'Ghost',
      lastName: 'Class',
      classId: '00000000-0000-4000-8000-00000000c1a5',
    });
    await page.waitForSelector('[data-test=refused][data-count="1"]', { timeout: 15_000 });
    expect(await page.textContent('[data-test=refused]')).toContain('1 change refused by the server');
    expect(await page.textContent('[data-test=conflict-count]')).toBe('1');
    await page.click('[data-test=tab-conflicts]');
    const row = page.locator(`[data-test=refusal-row][data-id="${ghost.outboxEventId}"]`);
    await row.waitFor();
    expect(await row.locator('strong').textContent()).toBe('Student Ghost Class');
    expect(await row.locator('[data-test=refusal-reason]').textContent()).toMatch(/^Class\b.*does not exist/);
    await ui.screenshot('desk-refusal.png');
    await row.locator('[data-test=dismiss]').click();
    await row.waitFor({ state: 'detached' });
    await page.waitForSelector('[data-test=refused]', { state: 'detached' });
    expect(ui.desk.store.refusals()).toEqual([]);
    expect(ui.desk.store.failedEvents().map((e) => e.id)).toEqual([ghost.outboxEventId]);
  });

  it('a token the server no longer accepts: the bar says so in plain words and, in the app, offers to enter a new one', async () => {
    const { page } = ui;
    // What the Electron preload gives the page; here it only counts the calls.
    await page.addInitScript(() => {
      const w = globalThis as unknown as { deskSetup: object; reconnects: number };
      w.reconnects = 0;
      w.deskSetup = {
        reconnect: () => {
          w.reconnects++;
          return Promise.resolve();
        },
      };
    });
    await page.reload();
    await ui.desk.stop();
    const refused = new DeskSync(silentLog, {
      store: ui.desk.store,
      serverUrl: ui.server.url,
      token: await signToken(
        'not-the-server-secret-not-the-server-secret',
        {
          sub: 'desk',
          tenantId: ui.tenant,
          role: 'desk',
        },
        3600,
      ),
      options: FAST_SYNC,
    });
    const running = refused.run();
    try {
      ui.status.use(refused);
      await page.waitForSelector('[data-test=reconnect]', { timeout: 15_000 });
      expect(await page.textContent('[data-test=last-error]')).toContain('no longer accepts this desk');
      await page.click('[data-test=reconnect]');
      await expect
        .poll(() => page.evaluate(() => (globalThis as unknown as { reconnects: number }).reconnects))
        .toBe(1);
    } finally {
      await refused.stop();
      await running;
    }
    ui.status.use(ui.desk.start());
    await page.waitForSelector('[data-test=reconnect]', { state: 'detached', timeout: 15_000 });
  });

  it('a long catch-up shows its progress in the status bar', async () => {
    const { page } = ui;
    // Settled first: a resnapshot of the students that the earlier refused create set off would otherwise
    // resume with this catch-up and bring the new rows in its one page (one text, then nothing to catch up).
    await waitFor(() => ui.desk.status?.activity === 'idle' && ui.desk.store.syncState().snapshot === null, {
      timeoutMs: 15_000,
      message: 'desk idle, no snapshot in progress',
    });
    await expectDeskEqualsServer();
    // Every text the progress element shows, however briefly.
    await page.evaluate(`
      window.progressSeen = [];
      new MutationObserver(() => {
        const text = document.querySelector('[data-test=progress]')?.textContent;
        if (text) window.progressSeen.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    `);
    await ui.desk.stop();
    await ui.db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, server_version)
       SELECT $1, gen_random_uuid(), 'Pupil ' || g, 'Bulk', 0 FROM generate_series(1, 3000) g`,
      [ui.tenant],
    );
    await ui.server.captured();
    const onServer = await ui.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM students WHERE tenant_id = $1',
      [ui.tenant],
    );
    const expected = onServer.rows[0]!.n;
    // Each page of changes is held 100 ms on the way, as on a slow link: otherwise, on a loaded machine, the
    // page may get the whole catch-up's statuses in one read and draw only the last.
    const slowLink = await startProxy(ui.server.url, undefined, ({ path }) =>
      path === '/api/sync/down' ? 100 : 0,
    );
    onTestFinished(() => slowLink.close());
    const sync = ui.desk.start({ downLimit: 200 }, slowLink);
    ui.status.use(sync);
    // Generous: on a loaded machine a restarted desk may first back off once; say where it stood if not.
    await waitFor(() => ui.desk.store.count('STUDENT') === expected, { timeoutMs: 30_000 }).catch(
      (error: unknown) => {
        const where = `${ui.desk.store.count('STUDENT')} of the server's ${expected} students, status ${JSON.stringify(sync.status)}`;
        throw new Error(`not caught up: ${where}`, { cause: error });
      },
    );
    const seen = await page.evaluate(
      () => (globalThis as unknown as { progressSeen: string[] }).progressSeen,
    );
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)).toMatch(/\d+ (received|of \d+)/);
    await page.waitForSelector('[data-test=progress]', { state: 'detached' });
    await waitFor(() => sync.status.live, { message: 'live again through the slow link' });
    await expectDeskEqualsServer();
  });
});
