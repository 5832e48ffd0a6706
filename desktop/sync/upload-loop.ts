import type { Logger } from 'pino';
import { syncUpResponseSchema, type SyncUpResponse } from '../../shared/protocol.ts';
import type { DeskStore } from '../store/index.ts';
import { Backoff, sleep, Wakeup } from '../../shared/timing.ts';
import { SyncHttpError, withSchema, type SyncHttp } from './sync-http.ts';
import type { SyncStatusBoard } from './sync-status.ts';

export interface UploadLoopOptions {
  /** Events per `/up` request (the server's limit is 1 000 by default). */
  batchSize: number;
  /** Upload at least this often even without a local change (picks up anything missed). */
  intervalMs: number;
  backoff: { baseMs: number; maxMs: number };
}

const parseUpResponse = withSchema(syncUpResponseSchema);

/**
 * Sends the outbox: resolutions the server has not answered, then PENDING events oldest first, one batch
 * at a time, each marked SENT while in flight and settled by the response in one SQLite transaction.
 * Invariant: an event goes back to PENDING (and is sent again with the same id) unless the server answered
 * it; the server's idempotency makes the resend harmless.
 */
export class UploadLoop {
  private readonly wakeup = new Wakeup();
  private readonly backoff: Backoff;
  private batchSize: number;
  /** Resolutions the server refused for good (404 UNKNOWN_CONFLICT): not retried in this process. */
  private readonly refusedResolutions = new Set<string>();
  private readonly drainedWaiters: (() => void)[] = [];

  constructor(
    private readonly log: Logger,
    private readonly deps: {
      store: DeskStore;
      http: SyncHttp;
      status: SyncStatusBoard;
      options: UploadLoopOptions;
      /** Called after a round that sent something left the outbox with nothing more to send. */
      onDrained?: () => void;
    },
  ) {
    this.backoff = new Backoff(deps.options.backoff);
    this.batchSize = deps.options.batchSize;
  }

  /** Ask for an upload round now (a local edit was made). */
  wake(): void {
    this.wakeup.wake();
  }

  /** Resolves once a round has left nothing to send (for tests and for the checksum check). */
  drained(): Promise<void> {
    return new Promise((resolve) => this.drainedWaiters.push(resolve));
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const sent = await this.round(signal);
        this.backoff.reset();
        for (const resolve of this.drainedWaiters.splice(0)) resolve();
        if (sent > 0) this.deps.onDrained?.();
      } catch (err) {
        if (signal.aborted) break;
        // Local edits do not cut a backoff short: the server gets a rest whatever the desk does.
        await sleep(this.onFailure(err), signal);
        continue;
      }
      await this.wakeup.wait(this.deps.options.intervalMs, signal);
    }
  }

  /** One round: everything that can be sent now is sent. Returns how many events and resolutions went. */
  private async round(signal: AbortSignal): Promise<number> {
    const { store, status } = this.deps;
    // (Edits held behind a conflict are pending but not sendable: they wait for the user, not for a round.)
    if (store.pendingBatch(1).length === 0 && this.unsentResolutions().length === 0) return 0;
    let sent = 0;
    status.update({ uploading: true });
    try {
      sent += await this.sendResolutions(signal);
      for (;;) {
        const batch = store.pendingBatch(this.batchSize);
        if (batch.length === 0 || signal.aborted) break;
        const ids = batch.map((event) => event.id);
        store.markSent(ids);
        let response: SyncUpResponse;
        try {
          response = await this.deps.http.post(
            '/api/sync/up',
            {
              clientId: store.clientId,
              events: batch,
              lastSyncTimestamp: store.syncState().lastSyncTimestamp,
            },
            parseUpResponse,
            signal,
          );
        } catch (err) {
          // Unanswered: send the same events again later, under the same ids.
          store.resumeSent();
          throw err;
        }
        const outcome = store.applyUploadResponse(response, ids);
        this.log.debug(
          { sent: ids.length, ...outcome, replacedIds: outcome.replacedIds.length },
          'batch uploaded',
        );
        sent += ids.length;
        status.synced();
        this.refreshCounts();
      }
    } finally {
      status.update({ uploading: false });
      this.refreshCounts();
    }
    return sent;
  }

  private unsentResolutions(): ReturnType<DeskStore['unsentResolutions']> {
    return this.deps.store.unsentResolutions().filter((r) => !this.refusedResolutions.has(r.outboxEventId));
  }

  private async sendResolutions(signal: AbortSignal): Promise<number> {
    let sent = 0;
    for (const resolution of this.unsentResolutions()) {
      if (signal.aborted) break;
      try {
        const response = await this.deps.http.post(
          `/api/sync/conflicts/${encodeURIComponent(resolution.outboxEventId)}/resolve`,
          resolution.request,
          parseUpResponse,
          signal,
        );
        this.deps.store.applyUploadResponse(response);
        this.deps.status.synced();
        sent += 1;
      } catch (err) {
        if (err instanceof SyncHttpError && err.code === 'UNKNOWN_CONFLICT') {
          this.log.warn({ outboxEventId: resolution.outboxEventId }, 'server knows no such conflict');
          this.refusedResolutions.add(resolution.outboxEventId);
          continue;
        }
        throw err;
      }
    }
    return sent;
  }

  private onFailure(err: unknown): number {
    const { options } = this.deps;
    this.deps.status.failed(err);
    if (err instanceof SyncHttpError && err.status === 413 && this.batchSize > 1) {
      this.batchSize = Math.max(1, Math.floor(this.batchSize / 2));
      this.log.warn({ batchSize: this.batchSize }, 'batch too large; halving it');
      return 0;
    }
    const retryAfter = err instanceof SyncHttpError ? err.retryAfterMs : null;
    // A non-retryable answer (401, 403, 400) will not fix itself soon: wait as long as the cap allows.
    const delay =
      err instanceof SyncHttpError && !err.retryable ? options.backoff.maxMs : this.backoff.next(retryAfter);
    this.log.info({ err, delayMs: delay }, 'upload failed; retrying later');
    return delay;
  }

  private refreshCounts(): void {
    this.deps.status.update(this.deps.store.outboxFigures());
  }
}
