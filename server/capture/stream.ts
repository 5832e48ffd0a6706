import type { Logger } from 'pino';
import type { SyncRules } from '../config/rules.ts';
import { formatLsn, parseLsn } from '../db/lsn.ts';
import { ReplicationSource } from './replication-source.ts';
import type { CapturedTransaction } from './transactions.ts';
import type { BatchWriter, CaptureProgress, StoredBatch } from './writer.ts';
import { assert } from '../../shared/asserts.ts';

export interface CaptureStreamOptions {
  connectionString: string;
  slotName: string;
  publicationName: string;
  /** Capture progress at start: transactions committed at or below its LSN are stored, and the
   * transaction it names as partial is stored up to its count of changes. */
  progress: CaptureProgress;
  /** The slot's confirmed_flush_lsn at start, if known. */
  confirmedFlushLsn: string | null;
  batchMaxRows: number;
  batchMaxBytes: number;
  queueMaxRows: number;
  /** What the rows are decoded with (on the replication worker). */
  decoding: { rules: Pick<SyncRules, 'entityTypes' | 'hiddenFields'>; history: boolean };
  writer: BatchWriter;
  onStored: (batch: StoredBatch) => void;
}

export interface CaptureStreamStatus {
  storedLsn: string;
  ackedLsn: string;
  queuedTransactions: number;
  queuedRows: number;
  /** Transactions received again after a restart and skipped because they were already stored. */
  skippedTransactions: number;
}

/**
 * One replication session of the leader: receives committed transactions from its replication worker
 * (replication-source.ts), queues them, and a single writer loop stores the queue in batches. An LSN is
 * acknowledged only once everything up to it is stored. `finished` settles when the session ends:
 * resolved after stop(), rejected on any failure (the caller restarts from the stored LSN, so nothing
 * received but unstored is lost).
 */
export class CaptureStream {
  readonly finished: Promise<void>;
  private settle!: { resolve: () => void; reject: (error: Error) => void };
  private source: ReplicationSource | null = null;
  private readonly queue: CapturedTransaction[] = [];
  private queuedRows = 0;
  private writing: Promise<void> | null = null;
  private readonly skipThrough: bigint;
  private progress: CaptureProgress;
  private lastQueued: bigint;
  /** The last piece queued left its transaction open: only its next piece may follow. */
  private lastQueuedPartial = false;
  private acked: bigint;
  private skipped = 0;
  private stopping = false;
  private failure: Error | null = null;

  constructor(
    private readonly log: Logger,
    private readonly options: CaptureStreamOptions,
  ) {
    this.finished = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Whoever awaits `finished` sees the failure; this keeps it from being an unhandled rejection meanwhile.
    this.finished.catch(() => undefined);
    const { progress } = options;
    this.progress = progress;
    this.skipThrough = parseLsn(progress.lsn);
    this.lastQueued = this.skipThrough;
    const confirmed = options.confirmedFlushLsn === null ? 0n : parseLsn(options.confirmedFlushLsn) - 1n;
    this.acked = confirmed > this.skipThrough ? confirmed : this.skipThrough;
  }

  get status(): CaptureStreamStatus {
    return {
      storedLsn: this.progress.lsn,
      ackedLsn: formatLsn(this.acked),
      queuedTransactions: this.queue.length,
      queuedRows: this.queuedRows,
      skippedTransactions: this.skipped,
    };
  }

  /** Resolves once Postgres streams; rejects if the stream cannot start. */
  async start(): Promise<void> {
    const { options, progress } = this;
    const source = await ReplicationSource.open(
      this.log,
      {
        connectionString: options.connectionString,
        slotName: options.slotName,
        publicationName: options.publicationName,
        startLsn: progress.lsn,
        rules: options.decoding.rules,
        history: options.decoding.history,
        piece: { maxRows: options.batchMaxRows, maxBytes: options.batchMaxBytes },
        resume:
          progress.partialLsn === null
            ? null
            : { lsn: parseLsn(progress.partialLsn), changes: progress.partialChanges },
        queueMaxRows: options.queueMaxRows,
        batchMaxBytes: options.batchMaxBytes,
      },
      {
        transaction: (txn) => this.onTransaction(txn),
        keepalive: (lsn, reply, inTransaction) => this.onKeepalive(lsn, reply, inTransaction),
        failed: (error) => this.fail(error),
      },
    );
    this.source = source;
    // A stop() while the worker's code was being prepared found no source to stop.
    if (this.stopping) await source.stop();
    await Promise.race([source.started, this.finished]);
    this.log.info({ slot: options.slotName, from: progress }, 'capture streaming');
  }

  /** Ends the stream, lets a batch being written finish, and resolves `finished`. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.source?.stop();
    await this.writing;
    this.settle.resolve();
  }

  private get halted(): boolean {
    return this.stopping || this.failure !== null;
  }

  private onTransaction(txn: CapturedTransaction): void {
    // After a failure nothing more is queued or acknowledged: the next session receives it again.
    if (this.halted) return;
    try {
      this.enqueue(txn);
    } catch (error) {
      this.fail(error);
    }
  }

  private enqueue(txn: CapturedTransaction): void {
    if (txn.lsn <= this.skipThrough) {
      if (!txn.partial) this.skipped++;
      this.source?.release(txn.rows.length, txn.bytes);
      return;
    }
    const continues = this.lastQueuedPartial && txn.lsn === this.lastQueued;
    const lastQueued = this.lastQueued;
    assert(
      txn.lsn > lastQueued || continues,
      () => `transaction ${txn.commitLsn} arrived after ${formatLsn(lastQueued)}`,
    );
    this.lastQueued = txn.lsn;
    this.lastQueuedPartial = txn.partial;
    this.queue.push(txn);
    this.queuedRows += txn.rows.length;
    this.startWriter();
  }

  private startWriter(): void {
    if (this.writing !== null || this.queue.length === 0 || this.halted) return;
    // A transaction may be queued after drain() saw an empty queue but before it settled: look again.
    this.writing = this.drain().finally(() => {
      this.writing = null;
      this.startWriter();
    });
  }

  /** The single writer: stores everything queued, in batches, in commit order. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.halted) {
        const batch = this.takeBatch();
        const last = batch.at(-1)!;
        const rows = batch.reduce((n, txn) => n + txn.rows.length, 0);
        // A transaction stored in part is finished even by an empty last piece: its progress must say so.
        const finishes = this.progress.partialLsn !== null;
        if (rows > 0 || finishes || batch.some((txn) => txn.truncates.length > 0)) {
          const stored = await this.options.writer.write(batch, this.progress);
          this.progress = stored.progress;
          this.options.onStored(stored);
        }
        this.queuedRows -= rows;
        this.source?.release(
          rows,
          batch.reduce((n, txn) => n + txn.bytes, 0),
        );
        if (!last.partial) this.acknowledge(last.lsn);
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private takeBatch(): CapturedTransaction[] {
    const batch: CapturedTransaction[] = [];
    let rows = 0;
    let bytes = 0;
    for (let next = this.queue[0]; next !== undefined; next = this.queue[0]) {
      const full =
        rows + next.rows.length > this.options.batchMaxRows ||
        bytes + next.bytes > this.options.batchMaxBytes;
      if (batch.length > 0 && full) break;
      batch.push(next);
      rows += next.rows.length;
      bytes += next.bytes;
      this.queue.shift();
      // A batch ends with a partial piece: the progress it stores names that one open transaction.
      if (next.partial) break;
    }
    return batch;
  }

  /**
   * Acknowledges `lsn` as the start of a stored commit record. The library reports lsn+1 as flushed and
   * Postgres skips, on restart, every transaction whose commit record starts before that.
   */
  private acknowledge(lsn: bigint): void {
    if (lsn <= this.acked) return;
    this.acked = lsn;
    this.sendStatus();
  }

  private sendStatus(): void {
    this.source?.acknowledge(formatLsn(this.acked));
  }

  /** A keepalive; every transaction received before it has been handed over (replication-worker.ts). */
  private onKeepalive(lsn: string, reply: boolean, inTransaction: boolean): void {
    if (this.halted) return;
    const idle = !inTransaction && this.queue.length === 0 && this.writing === null;
    if (idle) {
      // Every record before `lsn` has been decoded and all of it is stored: release that WAL even while
      // the entity tables are quiet. `lsn` itself may start a commit not yet sent, hence the - 1.
      const upTo = parseLsn(lsn) - 1n;
      if (upTo > this.acked) {
        this.acknowledge(upTo);
        return;
      }
    }
    if (reply) this.sendStatus();
  }

  private fail(cause: unknown): void {
    if (this.halted) return;
    this.failure = cause instanceof Error ? cause : new Error(String(cause));
    this.log.error({ err: this.failure, slot: this.options.slotName }, 'capture stream failed');
    this.settle.reject(this.failure);
  }
}
