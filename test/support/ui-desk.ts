import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { BridgeHost, SwitchableStatus } from '../../desktop/bridge-host.ts';
import { DeskHarness } from '../../desktop/harness/server.ts';
import { buildRenderer } from '../../desktop/renderer/build.ts';
import { createTestDatabase, silentLog, type TestDatabase } from './db.ts';
import { TestDeskClient } from './desk-client.ts';
import { DeskTestServer } from './desk-server.ts';
import { createTenant } from './http.ts';
import { launchChromium } from './ui-browser.ts';

/** Where screenshots go for a person to look at (ignored by git). */
export const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');

/**
 * Everything a UI test drives: a real server on a real Postgres, a desk (real SQLite file + DeskSync), the
 * harness serving the built renderer with the bridge over HTTP, and a page open in headless Chromium.
 */
export class UiDesk {
  private constructor(
    readonly db: TestDatabase,
    readonly server: DeskTestServer,
    readonly tenant: string,
    readonly desk: TestDeskClient,
    readonly harness: DeskHarness,
    /** What the page's status bar follows; point it at a restarted DeskSync. */
    readonly status: SwitchableStatus,
    readonly browser: Browser,
    readonly page: Page,
    private readonly dir: string,
  ) {}

  /** `locale`: the system locale the page sees (navigator.language), which picks its language and formats. */
  static async start(options: { locale?: string } = {}): Promise<UiDesk> {
    const browser = await launchChromium();
    const dir = mkdtempSync(join(tmpdir(), 'desk-ui-'));
    const rendererDir = await buildRenderer(join(dir, 'renderer'));
    const db = await createTestDatabase();
    db.pool.on('error', () => undefined);
    const server = new DeskTestServer(db);
    await server.start();
    const tenant = await createTenant(db.pool);
    const desk = new TestDeskClient(join(dir, 'desk.db'), tenant, server, await server.token(tenant));
    const status = new SwitchableStatus();
    status.use(desk.start());
    const harness = new DeskHarness(silentLog, { rendererDir, bridge: new BridgeHost(desk.store, status) });
    await harness.start();
    const page = await browser.newPage({
      viewport: { width: 1100, height: 700 },
      locale: options.locale ?? 'en-GB',
    });
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(harness.url);
    mkdirSync(ARTIFACTS, { recursive: true });
    return new UiDesk(db, server, tenant, desk, harness, status, browser, page, dir);
  }

  async close(): Promise<void> {
    await this.page.close().catch(() => undefined);
    await this.browser.close();
    await this.harness.stop();
    await this.desk.close();
    await this.server.stop();
    await this.db.drop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The server's row of a student, straight from Postgres. */
  async serverStudent(id: string): Promise<Record<string, unknown> | undefined> {
    const result = await this.db.pool.query(
      `SELECT first_name, last_name, notes, to_char(birth_date, 'YYYY-MM-DD') AS birth_date, server_version
       FROM students WHERE tenant_id = $1 AND id = $2`,
      [this.tenant, id],
    );
    return result.rows[0] as Record<string, unknown> | undefined;
  }

  /** A server row as JSON (dates as 'YYYY-MM-DD', numerics as numbers), straight from Postgres. */
  async serverRow(table: string, id: string): Promise<Record<string, unknown> | undefined> {
    const result = await this.db.pool.query<{ r: Record<string, unknown> }>(
      `SELECT row_to_json(t) AS r FROM ${table} t WHERE tenant_id = $1 AND id = $2`,
      [this.tenant, id],
    );
    return result.rows[0]?.r;
  }

  /** Fills the named controls of the form with `data-test=form` (text inputs and drop-downs). */
  async fill(form: string, fields: Record<string, string>): Promise<void> {
    for (const [name, value] of Object.entries(fields)) {
      const control = this.page.locator(`[data-test=${form}] [name=${name}]`);
      const tag = await control.evaluate((el) => el.tagName);
      if (tag === 'SELECT') await control.selectOption(value);
      else await control.fill(value);
    }
  }

  /** The pending count the status bar shows. */
  async shownPending(): Promise<number> {
    return Number(await this.page.getAttribute('[data-test=pending]', 'data-count'));
  }

  async fillStudent(fields: Record<string, string>): Promise<void> {
    for (const [name, value] of Object.entries(fields)) {
      await this.page.fill(`[data-test=student-form] [name=${name}]`, value);
    }
  }

  /** `fullPage`: the whole scrolled page, not only what fits the window. */
  async screenshot(name: string, fullPage = false): Promise<void> {
    // From the top: the sticky status bar would otherwise be drawn where the window was scrolled to.
    if (fullPage)
      await this.page.evaluate(() => {
        (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0);
      });
    await this.page.screenshot({ path: join(ARTIFACTS, name), fullPage });
  }
}
