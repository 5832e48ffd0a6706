import type { Logger } from 'pino';
import type { EntityType } from '../../shared/entities.ts';
import type { DeskStore } from '../store/index.ts';
import { Backoff, sleep, Wakeup } from '../../shared/timing.ts';
import { CatchUp } from './catch-up.ts';
import { ChecksumCheck } from './checksum-check.ts';
import { LiveSocket, socketUrlOf, type LiveEnd } from './live-socket.ts';
import { historyResponseSchema, type HistoryResponse } from '../../shared/protocol.ts';
import { SyncHttp, SyncHttpError, withSchema, type TokenProvider } from './sync-http.ts';
import { SyncStatusBoard, type ChecksumStatus, type SyncStatus } from './sync-status.ts';
import { UploadLoop } from './upload-loop.ts';

/** Entries a History panel asks for: a record's last 50 changes say who and when for a parent. */
const HISTORY_PAGE = 50;

/** A long-running part of the desk (same shape as the server's). */
export interface Service {
  run(): Promise<void>;
  stop(): Promise<void>;
}

export interface DeskSyncOptions {
  /** Upload at least this often without a local change (default 30 s). */
  uploadIntervalMs: number;
  /** Events per `/up` request (default 500; the server's limit is 1 000). */
  uploadBatchSize: number;
  /** `/down` page size (default 10 000, the server's cap). */
  downLimit: number;
  /** `/snapshot` page size (default 10 000). */
  snapshotLimit: number;
  /** Catch-up period when the server has no socket endpoint (default 5 s). */
  pollIntervalMs: number;
  /** Retry delays: exponential with full jitter between `baseMs` and `maxMs` (defaults 500 ms, 60 s). */
  backoff: { baseMs: number; maxMs: number };
  requestTimeoutMs: number;
  /** Use the live socket (default true); false: catch up by polling. */
  socket: boolean;
  socketSilenceMs: number;
  /** Compare checksums after catch-ups (default true), at most once per `checksumMinIntervalMs`. */
  checksum: boolean;
  checksumMinIntervalMs: number;
  checksumAttempts: number;
  /** The types this desk syncs (default: all the server serves). */
  entityTypes: EntityType[] | null;
  /** Acknowledged outbox events are kept for the desk's audit trail this long (default 90 days; 0: forever). */
  keepAcknowledgedMs: number;
  /** How often old acknowledged events are pruned (default 1 h). */
  pruneIntervalMs: number;
}

export const DEFAULT_DESK_SYNC_OPTIONS: DeskSyncOptions = {
  uploadIntervalMs: 30_000,
  uploadBatchSize: 500,
  downLimit: 10_000,
  snapshotLimit: 10_000,
  pollIntervalMs: 5_000,
  backoff: { baseMs: 500, maxMs: 60_000 },
  requestTimeoutMs: 60_000,
  socket: true,
  socketSilenceMs: 90_000,
  checksum: true,
  checksumMinIntervalMs: 60_000,
  checksumAttempts: 3,
  entityTypes: null,
  keepAcknowledgedMs: 90 * 86_400_000,
  pruneIntervalMs: 3_600_000,
};

export interface DeskSyncConfig {
  store: DeskStore;
  /** `http(s)://host:port` of the sync server. */
  serverUrl: string;
  token: TokenProvider;
  options?: Partial<DeskSyncOptions>;
}

/** A live session shorter than this counts as a failed connection for the backoff. */
const SHORT_SESSION_MS = 2_000;

/**
 * The desk's sync service: the upload loop and the download loop (snapshot → catch-up → checksum check →
 * live socket, again after every disconnect), both retrying with backoff until stopped. The store is
 * the only shared state, and only the download loop writes the cursor, so pages apply in cursor order.
 */
export class DeskSync implements Service {
  readonly name = 'desk-sync';
  readonly options: DeskSyncOptions;
  private readonly store: DeskStore;
  private readonly board = new SyncStatusBoard();
  private readonly upload: UploadLoop;
  private readonly download: CatchUp;
  private readonly checker: ChecksumCheck;
  private readonly live: LiveSocket;
  private readonly http: SyncHttp;
  private readonly backoff: Backoff;
  private readonly downloadWake = new Wakeup();
  private readonly abort = new AbortController();
  private readonly unsubscribe: (() => void)[] = [];
  private running: Promise<void> | null = null;
  private socketAvailable: boolean;
  private needSnapshot = false;
  private checkDue = true;
  private lastCheckAt = 0;
  private liveSince = 0;

  constructor(
    private readonly log: Logger,
    config: DeskSyncConfig,
  ) {
    this.options = { ...DEFAULT_DESK_SYNC_OPTIONS, ...config.options };
    const options = this.options;
    this.store = config.store;
    this.socketAvailable = options.socket;
    this.backoff = new Backoff(options.backoff);
    const http = (this.http = new SyncHttp(log.child({ part: 'http' }), {
      serverUrl: config.serverUrl,
      token: config.token,
      timeoutMs: options.requestTimeoutMs,
    }));
    const store = config.store;
    const status = this.board;
    this.upload = new UploadLoop(log.child({ part: 'upload' }), {
      store,
      http,
      status,
      options: {
        batchSize: options.uploadBatchSize,
        intervalMs: options.uploadIntervalMs,
        backoff: options.backoff,
      },
      onDrained: () => this.requestCheck(),
    });
    this.download = new CatchUp(log.child({ part: 'catch-up' }), {
      store,
      http,
      status,
      options: {
        downLimit: options.downLimit,
        snapshotLimit: options.snapshotLimit,
        entityTypes: options.entityTypes,
      },
    });
    this.checker = new ChecksumCheck(log.child({ part: 'checksum' }), {
      store,
      http,
      status,
      options: { entityTypes: options.entityTypes, attempts: options.checksumAttempts },
      catchUp: (signal) => this.download.catchUp(signal),
      resnapshot: (types, signal) => this.download.snapshot(types, signal),
    });
    this.live = new LiveSocket(log.child({ part: 'live' }), {
      store,
      status,
      options: {
        url: socketUrlOf(config.serverUrl),
        token: config.token,
        entityTypes: options.entityTypes,
        silenceMs: options.socketSilenceMs,
        connectTimeoutMs: options.requestTimeoutMs,
      },
    });
  }

  /** One record's history from the server (POST /api/sync/history); throws SyncHttpError offline. */
  history(type: EntityType, id: string): Promise<HistoryResponse> {
    return this.http.post(
      '/api/sync/history',
      { entityType: type, entityId: id, limit: HISTORY_PAGE },
      withSchema(historyResponseSchema),
    );
  }

  get status(): SyncStatus {
    return this.board.status;
  }

  /** Listens to every status change; returns the unsubscribe function. */
  onStatus(listener: (status: SyncStatus) => void): () => void {
    return this.board.on(listener);
  }

  /** Upload and catch up now rather than at the next period. */
  syncNow(): void {
    this.upload.wake();
    this.downloadWake.wake();
  }

  /** Compares checksums at the next chance (no upload in flight; types with unsettled edits are left out). */
  requestCheck(): void {
    this.checkDue = true;
    if (this.checkAllowed()) this.live.end();
    this.downloadWake.wake();
  }

  run(): Promise<void> {
    this.running ??= this.start();
    return this.running;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    for (const off of this.unsubscribe.splice(0)) off();
    this.store.flush();
  }

  private async start(): Promise<void> {
    const signal = this.abort.signal;
    this.unsubscribe.push(
      this.store.on('outbox', ({ reason }) => {
        if (reason === 'edit' || reason === 'resolution') this.upload.wake();
        this.board.update(this.store.outboxFigures());
      }),
    );
    const prune = setInterval(() => this.pruneAcknowledged(), this.options.pruneIntervalMs);
    prune.unref();
    this.pruneAcknowledged();
    try {
      await Promise.all([this.upload.run(signal), this.downloadLoop(signal)]);
    } finally {
      clearInterval(prune);
    }
  }

  /** Drops acknowledged outbox events older than `keepAcknowledgedMs`; the rest of the outbox is untouched. */
  private pruneAcknowledged(): void {
    if (this.options.keepAcknowledgedMs <= 0) return;
    try {
      const pruned = this.store.pruneAcknowledged(this.options.keepAcknowledgedMs);
      if (pruned > 0) this.log.info({ pruned }, 'old acknowledged outbox events pruned');
    } catch (error) {
      this.log.warn({ err: error }, 'pruning acknowledged outbox events failed');
    }
  }

  private checkAllowed(): boolean {
    return (
      this.options.checksum &&
      this.checkDue &&
      this.checker.ready() &&
      Date.now() - this.lastCheckAt >= this.options.checksumMinIntervalMs
    );
  }

  private async downloadLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        if (this.needSnapshot || this.download.needsSnapshot()) {
          await this.download.snapshot(null, signal);
          this.needSnapshot = false;
          this.checkDue = true;
        }
        await this.download.catchUp(signal);
        this.board.synced();
        if (this.checkAllowed()) await this.check(signal);
        this.backoff.reset();
        await this.waitForChanges(signal);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof SyncHttpError && err.code === 'RESYNC_REQUIRED') {
          this.log.info("the server no longer holds this desk's cursor: downloading a fresh snapshot");
          this.board.failed(err);
          this.needSnapshot = true;
          continue;
        }
        this.board.failed(err);
        // Reconnecting after an outage: compare with the server once back.
        this.checkDue = true;
        const delay =
          err instanceof SyncHttpError && !err.retryable
            ? this.options.backoff.maxMs
            : this.backoff.next(err instanceof SyncHttpError ? err.retryAfterMs : null);
        this.log.info({ err, delayMs: delay }, 'download failed; retrying later');
        await sleep(delay, signal);
      }
    }
  }

  private async check(signal: AbortSignal): Promise<ChecksumStatus | null> {
    // Cleared before, not after: a request that arrives while this check runs asks for another one. A check
    // that could not run (an upload in flight, every type unsettled) is asked for again when uploads drain.
    this.checkDue = false;
    const result = await this.checker.run(signal);
    if (result !== null) {
      this.lastCheckAt = Date.now();
      if (!result.matched) this.log.error({ result }, 'desk still differs from the server after a resync');
    }
    return result;
  }

  /** Stays live on the socket (or polls) until it is time to catch up over HTTP again. */
  private async waitForChanges(signal: AbortSignal): Promise<void> {
    // A check asked for while this round caught up or compared: go round again rather than wait.
    if (this.checkAllowed()) return;
    if (!this.socketAvailable) {
      await this.downloadWake.wait(this.options.pollIntervalMs, signal);
      return;
    }
    this.liveSince = Date.now();
    const end: LiveEnd = await this.live.session(signal);
    const lasted = Date.now() - this.liveSince;
    this.log.debug({ end, lasted }, 'live session ended');
    switch (end) {
      case 'resync':
        this.needSnapshot = true;
        return;
      case 'unavailable':
        this.log.warn('the server has no live socket: catching up by polling');
        this.socketAvailable = false;
        return;
      case 'unauthorized':
        throw new SyncHttpError('http', 401, 'UNAUTHORIZED', 'the live socket refused the token');
      case 'revoked':
        throw new SyncHttpError('http', 401, 'TOKEN_REVOKED', "the server revoked this desk's token");
      case 'stopped':
        return;
      case 'closed':
        if (lasted < SHORT_SESSION_MS) await sleep(this.backoff.next(), signal);
        return;
    }
  }
}
