import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DeskStore } from '../../desktop/store/index.ts';
import { DeskSync, type DeskSyncOptions } from '../../desktop/sync/index.ts';
import type { SyncStatus } from '../../desktop/sync/index.ts';
import { silentLog } from './db.ts';

/** Options that keep tests quick: short backoff caps, checks at every chance. */
export const FAST_SYNC: Partial<DeskSyncOptions> = {
  backoff: { baseMs: 50, maxMs: 1_000 },
  checksumMinIntervalMs: 0,
  uploadIntervalMs: 2_000,
  pollIntervalMs: 200,
  requestTimeoutMs: 20_000,
};

/** A desk in this process: a real SQLite file in a temp dir and its sync service, restartable. */
export class TestDeskClient {
  readonly store: DeskStore;
  sync: DeskSync | null = null;
  private running: Promise<void> | null = null;
  /** Every status the sync reported, oldest first. */
  readonly statuses: SyncStatus[] = [];

  constructor(
    readonly path: string,
    readonly tenantId: string,
    private readonly server: { url: string },
    private readonly token: string,
    private readonly options: Partial<DeskSyncOptions> = FAST_SYNC,
    private readonly log: Logger = silentLog,
  ) {
    this.store = DeskStore.open(path, { tenantId });
  }

  get status(): SyncStatus | null {
    return this.sync?.status ?? null;
  }

  /** Goes online: a fresh DeskSync over the same store; `via` is another way to the server (a proxy). */
  start(overrides: Partial<DeskSyncOptions> = {}, via: { url: string } = this.server): DeskSync {
    if (this.sync !== null) throw new Error('already started');
    const sync = new DeskSync(this.log, {
      store: this.store,
      serverUrl: via.url,
      token: this.token,
      options: { ...this.options, ...overrides },
    });
    sync.onStatus((status) => this.statuses.push(status));
    this.sync = sync;
    this.running = sync.run();
    return sync;
  }

  /** Goes offline. */
  async stop(): Promise<void> {
    const sync = this.sync;
    this.sync = null;
    await sync?.stop();
    await this.running;
  }

  async close(): Promise<void> {
    await this.stop();
    this.store.close();
  }
}

/** A temp dir for desk files, removed with everything in it. */
export function deskDir(): { path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'desk-sync-'));
  return { path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
