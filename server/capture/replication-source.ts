import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SyncRules } from '../config/rules.ts';
import { bundledWorker } from '../../shared/bundled-worker.ts';
import type { CapturedTransaction, PartialProgress } from './transactions.ts';

/** What the worker needs to open the session (passed as its workerData). */
export interface WorkerSettings {
  connectionString: string;
  slotName: string;
  publicationName: string;
  /** Where the slot is read from (the stored progress). */
  startLsn: string;
  rules: Pick<SyncRules, 'entityTypes' | 'hiddenFields'>;
  history: boolean;
  /** A transaction with more rows or payload characters than this is posted in pieces. */
  piece: { maxRows: number; maxBytes: number };
  resume: PartialProgress | null;
  /** Rows, or payload characters of four batches, posted and not released: the worker stops reading. */
  queueMaxRows: number;
  batchMaxBytes: number;
  logLevel: string;
}

export type FromWorker =
  | { type: 'started' }
  | { type: 'transaction'; txn: CapturedTransaction }
  | { type: 'keepalive'; lsn: string; reply: boolean; inTransaction: boolean }
  | { type: 'log'; line: string }
  | { type: 'error'; message: string; stack: string }
  | { type: 'stopped' };

export type ToWorker =
  { type: 'release'; rows: number; bytes: number } | { type: 'acknowledge'; lsn: string } | { type: 'stop' };

export interface ReplicationHandlers {
  /** A committed transaction (or a piece of one), in commit order. */
  transaction(txn: CapturedTransaction): void;
  /** A keepalive, once every transaction received before it was handed over. */
  keepalive(lsn: string, reply: boolean, inTransaction: boolean): void;
  failed(error: Error): void;
}

const WORKER = new URL('./replication-worker.ts', import.meta.url);
/** How long stop() waits for the worker to close the replication connection before ending it. */
const STOP_TIMEOUT_MS = 5_000;

/**
 * One replication session's connection, read and decoded on a worker thread (replication-worker.ts).
 * Transactions arrive in commit order; every one handed over must be released (release()) once stored
 * or dropped, so the worker keeps reading.
 */
export class ReplicationSource {
  readonly #worker: Worker;
  readonly #started: Promise<void>;
  /** Settles once the worker says it closed the connection, or exits. */
  readonly #closed: Promise<void>;
  #stopped: Promise<void> | null = null;
  #ended = false;

  /** Starts the worker, from its code bundled once per process (shared/bundled-worker.ts). */
  static async open(
    log: Logger,
    settings: Omit<WorkerSettings, 'logLevel'>,
    handlers: ReplicationHandlers,
  ): Promise<ReplicationSource> {
    return new ReplicationSource(log, await bundledWorker(WORKER), settings, handlers);
  }

  private constructor(
    private readonly log: Logger,
    script: URL,
    settings: Omit<WorkerSettings, 'logLevel'>,
    private readonly handlers: ReplicationHandlers,
  ) {
    // Without the parent's flags: the bundle needs no loader, and tsx's would cost the worker ~100 ms.
    this.#worker = new Worker(script, { workerData: { ...settings, logLevel: log.level }, execArgv: [] });
    let started!: () => void;
    this.#started = new Promise((resolve) => (started = resolve));
    let closed!: () => void;
    this.#closed = new Promise((resolve) => (closed = resolve));
    this.#worker.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'started':
          started();
          break;
        case 'transaction':
          this.handlers.transaction(message.txn);
          break;
        case 'keepalive':
          this.handlers.keepalive(message.lsn, message.reply, message.inTransaction);
          break;
        case 'log':
          this.#relay(message.line);
          break;
        case 'error': {
          const error = new Error(message.message);
          error.stack = message.stack;
          this.handlers.failed(error);
          break;
        }
        case 'stopped':
          closed();
          break;
      }
    });
    this.#worker.on('error', (error) => this.handlers.failed(error));
    this.#worker.on('exit', (code) => {
      this.#ended = true;
      closed();
      if (this.#stopped === null) this.handlers.failed(new Error(`replication worker exited (${code})`));
    });
  }

  /** Resolves once Postgres streams (a failure before is reported to `failed`). */
  get started(): Promise<void> {
    return this.#started;
  }

  release(rows: number, bytes: number): void {
    this.#send({ type: 'release', rows, bytes });
  }

  acknowledge(lsn: string): void {
    this.#send({ type: 'acknowledge', lsn });
  }

  /** Closes the replication connection and ends the worker. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    if (this.#ended) return;
    this.#send({ type: 'stop' });
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref());
    await Promise.race([this.#closed, timeout]);
    await this.#worker.terminate();
  }

  #send(message: ToWorker): void {
    if (!this.#ended) this.#worker.postMessage(message);
  }

  /** A log line of the worker's pino, logged here with its fields. */
  #relay(line: string): void {
    const {
      level,
      msg,
      time: _time,
      pid: _pid,
      hostname: _hostname,
      ...fields
    } = JSON.parse(line) as {
      level: number;
      msg?: string;
      [field: string]: unknown;
    };
    const label = this.log.levels.labels[level] ?? 'info';
    const write = (this.log as unknown as Record<string, (fields: object, msg?: string) => void>)[label];
    write?.call(this.log, fields, msg);
  }
}
