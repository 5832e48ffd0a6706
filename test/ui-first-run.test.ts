import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRenderer } from '../desktop/renderer/build.ts';
import { launchChromium } from './support/ui-browser.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');

/** The first-run form as Electron shows it (setup.html beside the built renderer), in headless Chromium. */
describe('the first-run form speaks the desk language', () => {
  let dir: string;
  let browser: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'desk-first-run-'));
    await buildRenderer(join(dir, 'renderer'));
    copyFileSync(join(import.meta.dirname, '../desktop/electron/setup.html'), join(dir, 'setup.html'));
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (locale: string) => {
    const context = await browser.newContext({ locale, viewport: { width: 900, height: 600 } });
    const page = await context.newPage();
    // The preload's bridge: remembers what it was given and answers as the main process does on a bad token.
    await page.addInitScript(`
      window.saved = [];
      window.deskSetup = {
        save: (url, token) => (window.saved.push([url, token]), Promise.resolve('token refused')),
      };`);
    await page.goto(pathToFileURL(join(dir, 'setup.html')).href);
    return { context, page };
  };

  it('in French on a French system, in English on an English one, and hands the values to the main process', async () => {
    const fr = await open('fr-SN');
    expect(await fr.page.locator('h2').textContent()).toBe('Relier ce poste à l’école');
    expect(await fr.page.locator('button[type=submit]').textContent()).toBe('Se connecter');
    expect(await fr.page.title()).toBe('Poste de l’école : premier démarrage');
    expect(await fr.page.evaluate('document.documentElement.lang')).toBe('fr');
    await fr.page.fill('input[name=serverUrl]', 'https://sync.ecole.sn');
    await fr.page.fill('textarea[name=token]', 'abc');
    await fr.page.click('button[type=submit]');
    await expect.poll(() => fr.page.locator('#setup-error').textContent()).toBe('token refused');
    expect(await fr.page.evaluate('window.saved')).toEqual([['https://sync.ecole.sn', 'abc']]);
    await fr.page.screenshot({ path: join(ARTIFACTS, 'desk-fr-first-run.png') });
    await fr.context.close();

    const en = await open('en-GB');
    expect(await en.page.locator('h2').textContent()).toBe('Connect this desk to the school');
    expect(await en.page.locator('label span.label').allTextContents()).toEqual([
      'Server address',
      'Desk token',
    ]);
    await en.page.screenshot({ path: join(ARTIFACTS, 'desk-en-first-run.png') });
    await en.context.close();
  });
});
