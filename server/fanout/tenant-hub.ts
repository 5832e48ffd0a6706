import type { Logger } from 'pino';
import { Backoff } from '../../shared/timing.ts';
import type { BatchChange, CommittedBatch } from '../log/committed-batch.ts';
import { parseNotification, SYNC_EVENTS_CHANNEL } from '../log/notification.ts';
import type { SyncRules } from '../config/rules.ts';
import type { Pool } from '../db/pool.ts';
import type { Service } from '../service.ts';
import { NotifyListener } from './listener.ts';
import type { JoinOutcome, Subscriber } from './subscriber.ts';
import { TenantChannel } from './tenant-channel.ts';
import { readTenantTails } from './tail-read.ts';
import { assert } from '../../shared/asserts.ts';

export interface TenantHubOptions {
  connectionString: string;
  pool: Pool;
  rules: Pick<SyncRules, 'hiddenFields' | 'push' | 'limits'>;
  /** Called once per batch handed to a tenant's desks: seconds from its last change's commit to now. */
  onPushed?: (latencySeconds: number) => void;
  /**
   * The identity of this process's capture, which hands its batches over (handOff); else learnt from its
   * first batch. A notification of one of its batches is only a fallback, looked at after HANDOFF_GRACE_MS.
   */
  captureIdentity?: string;

  /**
   * Changes read per tenant per statement (a longer run of new changes takes several rounds); default: the
   * rules' push.hubReadLimit.
   */
  readLimit?: number;
  /** Tenants read per statement. */
  tenantsPerRead?: number;
  /** Read statements in flight at once (never two for one tenant): wakes do not queue behind a slow read. */
  concurrentReads?: number;
  /** Backoff of the LISTEN connection and of a failed read round. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How often the idle LISTEN connection is probed. */
  listenProbeMs?: number;
}

/** Counters for tests, benchmarks and /metrics. */
export interface HubStats {
  tenants: number;
  subscribers: number;
  live: number;
  parked: number;
  /** Read statements run, tenants read by them, and batches fanned out (read or handed over). */
  reads: number;
  tenantReads: number;
  batches: number;
  /** Tenant batches capture handed over and the hub pushed without reading them back. */
  handedOver: number;
  /** Read statements in flight, and tenants waiting for a read: both 0 when the hub is at rest. */
  readsInFlight: number;
  tenantsPending: number;
  /** Whether LISTEN is in place now, and how many times it was established. */
  listening: boolean;
  listenConnections: number;
}

/** How long a notification of a batch this process's capture hands over waits for the handover. */
const HANDOFF_GRACE_MS = 200;

const DEFAULTS = {
  tenantsPerRead: 200,
  concurrentReads: 4,
  retryMinMs: 250,
  retryMaxMs: 10_000,
  listenProbeMs: 10_000,
};

/**
 * Fan-out on one server node. It LISTENs once for capture's notifications and, on a wake, reads each woken
 * tenant's new changes once (one statement for all woken tenants), builds each message once per filter,
 * and offers the same bytes to every live subscriber of the tenant on this node. Subscribers never make
 * the hub query for them; one that falls behind reads on from its own cursor and joins again.
 *
 * Invariant: a tenant is read again whenever it may have changes past its tail that the hub has not read —
 * after a notification naming it, after a LISTEN (re)connection (every tenant), and after a read that was
 * cut short by the limit or the byte budget, or failed.
 */
export class TenantHub implements Service {
  readonly name = 'fanout';
  readonly #options: Required<Omit<TenantHubOptions, 'rules' | 'onPushed' | 'captureIdentity'>> &
    Pick<TenantHubOptions, 'rules' | 'onPushed'>;
  readonly #channels = new Map<string, TenantChannel>();
  readonly #dirty = new Set<string>();
  readonly #listener: NotifyListener;
  /** Tenants whose read is in flight. */
  readonly #reading = new Set<string>();
  readonly #inFlight = new Set<Promise<void>>();
  #dirtyAll = false;
  #scheduled = false;
  /** The wait before a failed read round is retried (reset by a round that succeeds). */
  readonly #retry: Backoff;
  #retryTimer: NodeJS.Timeout | null = null;
  /** Notifications of batches this process's capture hands over, waiting to be looked at. */
  readonly #fallbacks = new Set<NodeJS.Timeout>();
  #stopped = false;
  #running: Promise<void> | null = null;
  #stats = { reads: 0, tenantReads: 0, batches: 0, handedOver: 0 };
  /**
   * The run of batches capture handed over in a row, each starting where the one before ended: a tenant
   * whose log the hub knew up to a point in the run (coveredTo in [start, end]) is known up to `end`, as
   * the batches that did not name it held none of its changes. null before the first or after a TRUNCATE.
   */
  #run: { start: number; end: number } | null = null;
  /** The identity of the capture that hands its batches to this hub (see captureIdentity). */
  #ownCapture: string | null;
  #listening: Promise<void>;
  #markListening!: () => void;

  constructor(
    private readonly log: Logger,
    options: TenantHubOptions,
  ) {
    this.#options = { ...DEFAULTS, readLimit: options.rules.push.hubReadLimit, ...options };
    this.#ownCapture = options.captureIdentity ?? null;
    this.#retry = new Backoff({
      baseMs: this.#options.retryMinMs,
      maxMs: this.#options.retryMaxMs,
      jitter: false,
    });
    this.#listening = new Promise((resolve) => {
      this.#markListening = resolve;
    });
    this.#listener = new NotifyListener(
      log,
      {
        connectionString: options.connectionString,
        channel: SYNC_EVENTS_CHANNEL,
        reconnectMinMs: this.#options.retryMinMs,
        reconnectMaxMs: this.#options.retryMaxMs,
        probeMs: this.#options.listenProbeMs,
      },
      {
        onNotify: (payload) => this.#notified(payload),
        onListening: () => {
          this.#markListening();
          this.wake('all');
        },
      },
    );
  }

  /** Resolves once LISTEN is first in place; from then on no committed change is missed. */
  get listening(): Promise<void> {
    return this.#listening;
  }

  run(): Promise<void> {
    this.#running ??= this.#listener.run();
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    for (const timer of this.#fallbacks) clearTimeout(timer);
    await this.#listener.stop();
    await this.#running;
    await Promise.all(this.#inFlight);
  }

  /** Registers a subscriber of its tenant on this node (it is not live until it joins). */
  subscribe(subscriber: Subscriber): void {
    let channel = this.#channels.get(subscriber.tenantId);
    if (channel === undefined) {
      channel = new TenantChannel(subscriber.tenantId);
      this.#channels.set(subscriber.tenantId, channel);
    }
    channel.add(subscriber);
  }

  unsubscribe(subscriber: Subscriber): void {
    const channel = this.#channels.get(subscriber.tenantId);
    if (channel === undefined) return;
    channel.remove(subscriber);
    if (channel.empty) this.#channels.delete(subscriber.tenantId);
  }

  /** A subscriber that has read the log up to its position asks to be fed by the hub from there. */
  join(subscriber: Subscriber): JoinOutcome {
    const channel = this.#channels.get(subscriber.tenantId);
    assert(channel !== undefined, 'subscribe() before join()');
    const { outcome, needsRead } = channel.join(subscriber);
    if (needsRead) this.wake([subscriber.tenantId]);
    return outcome;
  }

  /** Takes a subscriber out of the hub's feed (paused, or closing); it stays subscribed. */
  leave(subscriber: Subscriber): void {
    this.#channels.get(subscriber.tenantId)?.drop(subscriber);
  }

  /** The hub's tail of a tenant's log on this node, when someone follows it. */
  tailOf(tenantId: string): number | null {
    return this.#channels.get(tenantId)?.tail?.eventId ?? null;
  }

  /** Marks tenants as possibly changed; they are read in the next round. */
  wake(tenantIds: readonly string[] | 'all', lastEventId?: number): void {
    if (this.#stopped) return;
    if (tenantIds === 'all') this.#dirtyAll = true;
    else {
      for (const tenantId of tenantIds) {
        const channel = this.#channels.get(tenantId);
        if (channel === undefined) continue;
        // The hub already read past this batch for the tenant, or capture handed it over: nothing to read.
        if (lastEventId !== undefined && this.#coveredTo(channel) >= lastEventId) continue;
        this.#dirty.add(tenantId);
      }
    }
    this.#schedule();
  }

  /**
   * Takes what this process's capture has just committed, in commit order, and pushes each tenant's
   * changes to its followers from memory: a tenant the hub knew up to the batch's start, in the batch's
   * epoch, gets the batch as if it had been read; any other followed tenant is read from the log. Other
   * nodes see the batch through NOTIFY and their own read.
   */
  handOff(stored: {
    all: boolean;
    tenantIds: readonly string[];
    committed: CommittedBatch | null;
    capture: string;
  }): void {
    if (this.#stopped) return;
    this.#ownCapture = stored.capture;
    const batch = stored.committed;
    if (batch === null) {
      this.#run = null;
      if (stored.all) this.wake('all');
      else this.wake(stored.tenantIds);
      return;
    }
    for (const tenantId of batch.tenantIds) {
      const channel = this.#channels.get(tenantId);
      if (channel === undefined) continue;
      const covered = this.#coveredTo(channel);
      if (covered >= batch.lastId) continue;
      const tail = channel.tail;
      const follows = channel.wanted && tail !== null && tail.epoch === batch.epochOf(tenantId);
      if (follows && covered === batch.afterId) {
        this.#extend(channel, batch.changesOf(tenantId), batch.lastId);
        continue;
      }
      // Not pushed: a read in flight whose snapshot predates the batch must not be taken to cover it
      // because of the run of handed-over batches (see #coveredTo).
      channel.coveredTo = -1;
      channel.missedThrough = batch.lastId;
      if (channel.wanted) this.wake([tenantId]);
    }
    const run = this.#run;
    this.#run =
      run !== null && run.end === batch.afterId
        ? { start: run.start, end: batch.lastId }
        : { start: batch.afterId, end: batch.lastId };
  }

  /** A tenant's changes that follow its tail, in pieces a read would return (its limit and byte budget). */
  #extend(channel: TenantChannel, changes: readonly BatchChange[], coveredTo: number): void {
    const { readLimit } = this.#options;
    const maxBytes = this.#options.rules.limits.pageMaxBytes;
    let start = 0;
    while (start < changes.length) {
      let end = start;
      let bytes = 0;
      while (end < changes.length && end - start < readLimit) {
        bytes += Buffer.byteLength(changes[end]!.json) + 1;
        if (end > start && bytes > maxBytes) break;
        end++;
      }
      const piece = changes.slice(start, end);
      channel.extend(piece, end === changes.length ? coveredTo : piece.at(-1)!.id);
      this.#pushed(piece);
      this.#stats.handedOver++;
      start = end;
      // A subscriber may have left the feed (its socket full): the rest goes to those still following.
      if (channel.tail === null) return;
    }
  }

  /**
   * Up to where the hub knows a tenant's log, counting the batches handed over since its last read: those
   * that did not name the tenant held none of its changes, and those that did were pushed to it, unless
   * one was not (missedThrough), which only a read that saw it can cover.
   */
  #coveredTo(channel: TenantChannel): number {
    const run = this.#run;
    const known = channel.coveredTo;
    if (run !== null && known >= channel.missedThrough && known >= run.start && known <= run.end)
      return run.end;
    return known;
  }

  #pushed(changes: readonly BatchChange[]): void {
    const last = changes.at(-1);
    if (last === undefined) return;
    this.#stats.batches++;
    this.#options.onPushed?.((Date.now() - Date.parse(last.modifiedAt)) / 1000);
  }

  get stats(): HubStats {
    let subscribers = 0;
    let live = 0;
    let parked = 0;
    for (const channel of this.#channels.values()) {
      subscribers += channel.all.size;
      live += channel.live.size;
      parked += channel.parked.size;
    }
    return {
      tenants: this.#channels.size,
      subscribers,
      live,
      parked,
      ...this.#stats,
      readsInFlight: this.#inFlight.size,
      tenantsPending: this.#dirtyAll ? this.#channels.size : this.#dirty.size,
      listening: this.#listener.listening,
      listenConnections: this.#listener.connections,
    };
  }

  #notified(payload: string): void {
    const notification = parseNotification(payload);
    // A payload this version does not understand must not cost a change: look at every tenant.
    if (notification === null) {
      this.log.warn({ payload: payload.slice(0, 200) }, 'unknown sync_events notification; waking all');
      this.wake('all');
    } else if ('all' in notification) this.wake('all');
    else if (notification.capture !== undefined && notification.capture === this.#ownCapture) {
      // The batch comes by handOff, which may be a moment behind its notification. Should it never come (a
      // connection lost after COMMIT), the tenants are read once the wait is over.
      const { tenantIds, lastEventId } = notification;
      const timer = setTimeout(() => {
        this.#fallbacks.delete(timer);
        this.wake(tenantIds, lastEventId);
      }, HANDOFF_GRACE_MS);
      this.#fallbacks.add(timer);
    } else this.wake(notification.tenantIds, notification.lastEventId);
  }

  #schedule(): void {
    if (this.#scheduled || this.#retryTimer !== null || this.#stopped) return;
    if (this.#inFlight.size >= this.#options.concurrentReads) return;
    if (!this.#dirtyAll && this.#dirty.size === 0) return;
    this.#scheduled = true;
    // Wakes that arrive in the same turn share one read.
    setImmediate(() => {
      this.#scheduled = false;
      this.#startRound();
    });
  }

  /** Starts one read of dirty tenants that someone follows and that are not being read already. */
  #startRound(): void {
    if (this.#stopped) return;
    if (this.#dirtyAll) {
      for (const tenantId of this.#channels.keys()) this.#dirty.add(tenantId);
      this.#dirtyAll = false;
    }
    const picked: TenantChannel[] = [];
    for (const tenantId of this.#dirty) {
      // A tenant being read stays dirty: it is read again once that read is applied.
      if (this.#reading.has(tenantId)) continue;
      this.#dirty.delete(tenantId);
      const channel = this.#channels.get(tenantId);
      if (channel?.wanted !== true) continue;
      picked.push(channel);
      if (picked.length === this.#options.tenantsPerRead) break;
    }
    if (picked.length === 0) return;
    for (const channel of picked) this.#reading.add(channel.tenantId);
    const round: Promise<void> = this.#read(picked)
      .then(
        () => this.#retry.reset(),
        (error: unknown) => this.#failed(picked, error),
      )
      .finally(() => {
        for (const channel of picked) this.#reading.delete(channel.tenantId);
        this.#inFlight.delete(round);
        this.#schedule();
      });
    this.#inFlight.add(round);
    this.#schedule();
  }

  #failed(picked: readonly TenantChannel[], error: unknown): void {
    if (this.#stopped) return;
    for (const channel of picked) this.#dirty.add(channel.tenantId);
    const retryInMs = this.#retry.next();
    this.log.error({ err: error, retryInMs }, 'fan-out read failed; retrying');
    this.#retryTimer ??= setTimeout(() => {
      this.#retryTimer = null;
      this.#schedule();
    }, retryInMs);
  }

  async #read(channels: TenantChannel[]): Promise<void> {
    const tails = channels.map((c) => ({
      tenantId: c.tenantId,
      after: c.tail === null ? null : { ...c.tail },
    }));
    const reads = await readTenantTails(this.#options.pool, tails, {
      limit: this.#options.readLimit,
      // One round reads at most a page's budget, whatever the number of tenants it wakes.
      maxBytes: this.#options.rules.limits.pageMaxBytes,
      hiddenFields: this.#options.rules.hiddenFields,
    });
    this.#stats.reads++;
    this.#stats.tenantReads += reads.length;
    for (const read of reads) {
      const channel = this.#channels.get(read.tenantId);
      if (channel === undefined) continue;
      const applied = channel.apply(read);
      if (applied) this.#pushed(read.changes);
      // Cut short by the limit, or read from a tail that moved meanwhile: read again.
      if (read.hasMore || !applied) this.#dirty.add(read.tenantId);
    }
  }
}
