import { join } from 'node:path';
import { BrowserWindow, app, ipcMain, safeStorage } from 'electron';
import { pino } from 'pino';
import { IPC_CALL, IPC_EVENT, isBridgeMethod } from '../bridge.ts';
import { BridgeHost, SwitchableStatus } from '../bridge-host.ts';
import { DeskStore, DeskStoreError } from '../store/index.ts';
import { DeskSync } from '../sync/index.ts';
import { DeskConfigError, readSettings, saveSettings, type DeskSettings } from './config.ts';

/** Built next to this file by build.ts: main.mjs, preload.cjs, setup.html; the renderer in ../renderer. */
const here = import.meta.dirname;
const RENDERER = join(here, 'renderer', 'index.html');
const SETUP = join(here, 'setup.html');
const PRELOAD = join(here, 'preload.cjs');

const log = pino({ level: process.env.DESK_LOG_LEVEL ?? 'info' });
const settingsPath = (): string => join(app.getPath('userData'), 'desk-settings.json');

function createWindow(page: string): BrowserWindow {
  const win = new BrowserWindow({
    width: 1200,
    height: 800,
    title: 'School desk',
    webPreferences: { preload: PRELOAD, contextIsolation: true, nodeIntegration: false, sandbox: true },
  });
  // The renderer never navigates away nor opens windows: everything it shows is local.
  win.webContents.on('will-navigate', (event) => event.preventDefault());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  void win.loadFile(page);
  return win;
}

/** The desk proper: store, sync and the bridge, wired once; stopped in reverse order on quit. */
function startDesk(settings: DeskSettings): { win: BrowserWindow; stop: () => Promise<void> } {
  // The store file (and its clientId) is made once per user profile and tenant.
  const store = DeskStore.open(join(app.getPath('userData'), `desk-${settings.tenantId}.db`), {
    tenantId: settings.tenantId,
  });
  const sync = new DeskSync(log.child({ component: 'desk-sync' }), {
    store,
    serverUrl: settings.serverUrl,
    token: settings.token,
  });
  const status = new SwitchableStatus();
  status.use(sync);
  const host = new BridgeHost(store, status);
  ipcMain.handle(IPC_CALL, async (_event, method: unknown, args: unknown) => {
    if (!isBridgeMethod(method) || !Array.isArray(args)) throw new Error('unknown desk call');
    try {
      return await host.call(method, args);
    } catch (err) {
      // Errors cross IPC as messages only; the log keeps the detail.
      log.warn({ err, method }, 'desk call failed');
      throw err instanceof DeskStoreError ? new Error(err.message) : err;
    }
  });
  const win = createWindow(RENDERER);
  const off = host.subscribe((event) => {
    if (!win.isDestroyed()) win.webContents.send(IPC_EVENT, event);
  });
  const running = sync.run();
  return {
    win,
    async stop() {
      off();
      ipcMain.removeHandler(IPC_CALL);
      await sync.stop();
      await running;
      store.close();
    },
  };
}

/**
 * First run, and whenever the token must change: a small page asks for the server address and the token,
 * kept with safeStorage.
 */
function askSettings(): Promise<DeskSettings> {
  return new Promise((resolve) => {
    const win = createWindow(SETUP);
    ipcMain.handle('desk:setup', (_event, input: unknown) => {
      try {
        const settings = saveSettings(settingsPath(), safeStorage, input);
        ipcMain.removeHandler('desk:setup');
        win.close();
        resolve(settings);
        return null;
      } catch (err) {
        if (err instanceof DeskConfigError) return err.message;
        throw err;
      }
    });
  });
}

async function main(): Promise<void> {
  await app.whenReady();
  const settings = readSettings(settingsPath(), safeStorage) ?? (await askSettings());
  let desk = startDesk(settings);
  // A token that expired or was revoked: the desk window asks for a new one. The old desk stops (its work
  // stays in its SQLite file), the new one opens the same file when the tenant is the same.
  ipcMain.handle('desk:reconnect', async () => {
    const next = await askSettings();
    const old = desk;
    await old.stop();
    desk = startDesk(next);
    old.win.close();
  });
  let stopping = false;
  app.on('before-quit', (event) => {
    if (stopping) return;
    stopping = true;
    event.preventDefault();
    desk
      .stop()
      .catch((err: unknown) => log.error({ err }, 'desk did not stop cleanly'))
      .finally(() => app.quit());
  });
  app.on('window-all-closed', () => app.quit());
}

main().catch((err: unknown) => {
  log.fatal({ err }, 'desk failed to start');
  app.exit(1);
});
