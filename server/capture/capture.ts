import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { SyncRules } from '../config/rules.ts';
import type { Pool } from '../db/pool.ts';
import type { Service } from '../service.ts';
import { acquireLeadership, type Leadership } from './leader.ts';
import { Backoff, sleep } from '../../shared/timing.ts';
import { RateMeter } from './rate.ts';
import { CaptureStream } from './stream.ts';
import { BatchWriter, type StoredBatch } from './writer.ts';
import { assert } from '../../shared/asserts.ts';

export interface CaptureOptions {
  connectionString: string;
  pool: Pool;
  /** `history` unset: history is written (the sync rule's default). */
  rules: Pick<SyncRules, 'entityTypes' | 'hiddenFields' | 'capture'> & Partial<Pick<SyncRules, 'history'>>;
  /**
   * Called after each committed batch, in commit order: its tenants and last id (`all` after a TRUNCATE),
   * the batch itself for this process's push path (TenantHub.handOff), and this capture's identity, which
   * its notifications carry.
   */
  onStored?: (stored: HandedOver) => void;
  /** Recorded in sync_capture_state.leader and sent in notifications; defaults to defaultCaptureIdentity(). */
  identity?: string;
}

/** What capture hands its onStored callback after each batch. */
export type HandedOver = Pick<StoredBatch, 'tenantIds' | 'lastEventId' | 'all' | 'committed'> & {
  capture: string;
};

/**
 * What capture is doing: waiting for leadership (`standby`), leading and streaming the slot (`streaming`),
 * leading but between failed sessions (`retrying`, since `failingSince`), or no longer running.
 */
export type CaptureState = 'standby' | 'starting' | 'streaming' | 'retrying' | 'stopped';

export interface CaptureStatus {
  state: CaptureState;
  /** When the current run of failed sessions began; null while streaming or standing by. */
  failingSince: string | null;
  leader: boolean;
  identity: string;
  /** Commit LSN of the last transaction this process stored (null before its first batch). */
  lastStoredLsn: string | null;
  eventsPerSecond: number;
  eventsStored: number;
  queuedTransactions: number;
  queuedRows: number;
  /** Transactions received again after a restart and skipped as already stored (at most one per restart). */
  skippedTransactions: number;
}

/** How a capture names itself (sync_capture_state.leader, its notifications) unless told: `host:pid`. */
export function defaultCaptureIdentity(): string {
  return `${hostname()}:${process.pid}`;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** A session that ran this long was healthy: the next failure starts the backoff again from the minimum. */
const HEALTHY_SESSION_MS = 30_000;

/**
 * WAL capture: the process holding the slot's leadership streams pgoutput into sync_events; every other
 * process stands by and takes over when the leader's lock connection goes away. Failures never end the
 * service: it logs, backs off, and resumes from the last stored LSN.
 */
export class Capture implements Service {
  readonly name = 'capture';
  private readonly abort = new AbortController();
  private readonly identity: string;
  private readonly writer: BatchWriter;
  private readonly rate = new RateMeter();
  private stream: CaptureStream | null = null;
  private leadership: Leadership | null = null;
  private running: Promise<void> | null = null;
  private lastStoredLsn: string | null = null;
  private eventsStored = 0;
  private skippedBefore = 0;
  private restartRequested = false;
  private state: CaptureState = 'standby';
  private failingSince: string | null = null;

  constructor(
    private readonly log: Logger,
    private readonly options: CaptureOptions,
  ) {
    this.identity = options.identity ?? defaultCaptureIdentity();
    this.writer = new BatchWriter(log, {
      pool: options.pool,
      slotName: options.rules.capture.slotName,
      identity: this.identity,
    });
  }

  get status(): CaptureStatus {
    const stream = this.stream?.status;
    return {
      state: this.state,
      failingSince: this.failingSince,
      leader: this.leadership?.held ?? false,
      identity: this.identity,
      lastStoredLsn: this.lastStoredLsn,
      eventsPerSecond: this.rate.perSecond(),
      eventsStored: this.eventsStored,
      queuedTransactions: stream?.queuedTransactions ?? 0,
      queuedRows: stream?.queuedRows ?? 0,
      skippedTransactions: this.skippedBefore + (stream?.skippedTransactions ?? 0),
    };
  }

  run(): Promise<void> {
    this.running ??= this.loop().finally(() => {
      this.state = 'stopped';
    });
    return this.running;
  }

  /** Ends the stream, lets a batch being written commit, and releases leadership. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.stream?.stop();
    await this.running;
  }

  /**
   * Ends the current stream session; the next one starts at once from the stored progress. Called after
   * the slot was recreated (slot guard, `sync-admin slot recreate`), so capture follows the new slot.
   */
  async restartStream(): Promise<void> {
    this.restartRequested = true;
    await this.stream?.stop();
  }

  private async loop(): Promise<void> {
    const { slotName, standbyPollMs } = this.options.rules.capture;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      this.state = 'standby';
      this.failingSince = null;
      const leadership = await acquireLeadership(
        this.log,
        { connectionString: this.options.connectionString, slotName, pollMs: standbyPollMs },
        signal,
      );
      if (leadership === null) break;
      this.leadership = leadership;
      this.log.info({ slot: slotName, identity: this.identity }, 'capture leader');
      try {
        await this.lead(leadership);
      } finally {
        this.leadership = null;
        await leadership.release();
        await this.recordLeader(null);
      }
      if (signal.aborted) break;
      this.log.warn({ slot: slotName }, 'capture leadership lost; standing by');
      // A process that just lost its lock connection is likely the unhealthy one: give a standby the
      // first chance to take over.
      await sleep(standbyPollMs * 2, signal);
    }
  }

  /** Runs stream sessions while leadership holds, backing off between failed ones. */
  private async lead(leadership: Leadership): Promise<void> {
    const signal = this.abort.signal;
    const backoff = new Backoff({ baseMs: BACKOFF_MIN_MS, maxMs: BACKOFF_MAX_MS, jitter: false });
    await this.recordLeader(this.identity);
    while (!signal.aborted && leadership.held) {
      const started = Date.now();
      if (this.state !== 'retrying') this.state = 'starting';
      try {
        await this.session(leadership);
      } catch (error) {
        if (signal.aborted) break;
        this.log.error({ err: error }, 'capture session ended; restarting from the last stored LSN');
      }
      if (!this.restartRequested) {
        this.state = 'retrying';
        this.failingSince ??= new Date().toISOString();
      }
      if (Date.now() - started > HEALTHY_SESSION_MS) backoff.reset();
      const delay = this.restartRequested ? 0 : backoff.next();
      this.restartRequested = false;
      await Promise.race([sleep(delay, signal), leadership.lost]);
    }
  }

  private async session(leadership: Leadership): Promise<void> {
    const { pool } = this.options;
    const { slotName, publicationName, batchMaxRows, batchMaxBytes, queueMaxRows } =
      this.options.rules.capture;
    const state = await pool.query<{
      last_commit_lsn: string;
      partial_commit_lsn: string | null;
      partial_changes: number;
      confirmed_flush_lsn: string | null;
    }>(
      `SELECT s.last_commit_lsn::text, s.partial_commit_lsn::text, s.partial_changes, r.confirmed_flush_lsn::text
         FROM sync_capture_state s LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name
        WHERE s.slot_name = $1`,
      [slotName],
    );
    const row = state.rows[0];
    assert(row !== undefined, () => `a sync_capture_state row for slot ${slotName}`);
    const stream = new CaptureStream(this.log, {
      connectionString: this.options.connectionString,
      slotName,
      publicationName,
      progress: {
        lsn: row.last_commit_lsn,
        partialLsn: row.partial_commit_lsn,
        partialChanges: row.partial_changes,
      },
      confirmedFlushLsn: row.confirmed_flush_lsn,
      batchMaxRows,
      batchMaxBytes,
      queueMaxRows,
      decoding: { rules: this.options.rules, history: this.options.rules.history?.enabled ?? true },
      writer: this.writer,
      onStored: (stored) => this.stored(stored),
    });
    this.stream = stream;
    try {
      if (this.abort.signal.aborted) return;
      await stream.start();
      this.state = 'streaming';
      this.failingSince = null;
      const lost = leadership.lost.then((reason) => {
        throw reason;
      });
      await Promise.race([stream.finished, lost]);
    } finally {
      await stream.stop();
      this.skippedBefore += stream.status.skippedTransactions;
      this.stream = null;
    }
  }

  private stored(batch: StoredBatch): void {
    this.lastStoredLsn = batch.progress.lsn;
    this.eventsStored += batch.events;
    this.rate.record(batch.events);
    try {
      this.options.onStored?.({ ...batch, capture: this.identity });
    } catch (error) {
      this.log.error({ err: error }, 'onStored callback failed');
    }
  }

  private async recordLeader(identity: string | null): Promise<void> {
    const slotName = this.options.rules.capture.slotName;
    try {
      await this.options.pool.query(
        identity === null
          ? 'UPDATE sync_capture_state SET leader = NULL, updated_at = now() WHERE slot_name = $1 AND leader = $2'
          : 'UPDATE sync_capture_state SET leader = $2, updated_at = now() WHERE slot_name = $1',
        [slotName, identity ?? this.identity],
      );
    } catch (error) {
      this.log.warn({ err: error }, 'recording the capture leader failed');
    }
  }
}
