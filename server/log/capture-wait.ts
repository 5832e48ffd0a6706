import { parseLsn } from '../db/lsn.ts';
import type { Pool } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import { Backoff } from '../../shared/timing.ts';

/** Prefix of the logical message a checksum request writes to learn when capture has read past its start. */
export const CHECKSUM_MESSAGE_PREFIX = 'sync.checksum';

export interface CaptureWaiterOptions {
  slotName: string;
  /** First pause between two looks at capture's progress; it doubles up to maxPollMs while anyone waits. */
  minPollMs?: number;
  maxPollMs?: number;
}

interface Waiter {
  /** null until a round has marked the WAL for it. */
  startLsn: bigint | null;
  deadline: number;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Waits until capture has stored every transaction committed before a call, for every caller of one node
 * at once. Each round marks the WAL once for all callers that arrived since the last one (a transactional
 * logical message: capture receives it after every earlier commit and acknowledges it only once those are
 * stored) and reads capture's progress once for everyone waiting: concurrent checksum requests cost one
 * message and one progress read per round between them, not one each per 20 ms. Covered means capture's
 * last stored commit or the slot's confirmed LSN has passed the caller's start, which holds while the
 * entity tables are quiet too (`last_commit_lsn` moves only with captured rows).
 */
export class CaptureWaiter {
  readonly #waiters = new Set<Waiter>();
  /** The pause between two looks: doubles while the same callers keep waiting. */
  readonly #pause: Backoff;
  #timer: NodeJS.Timeout | null = null;
  #round: Promise<void> | null = null;
  /** Rounds run and WAL marks written, for tests and operations. */
  readonly stats = { rounds: 0, marks: 0 };

  constructor(
    private readonly pool: Pool,
    private readonly options: CaptureWaiterOptions,
  ) {
    this.#pause = new Backoff({
      baseMs: options.minPollMs ?? 5,
      maxMs: options.maxPollMs ?? 200,
      jitter: false,
    });
  }

  /** Resolves once the log covers every change committed before this call; NOT_READY (503) after timeoutMs. */
  wait(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiters.add({
        startLsn: null,
        deadline: Date.now() + options.timeoutMs,
        signal: options.signal,
        timeoutMs: options.timeoutMs,
        resolve,
        reject,
      });
      // A newcomer is looked at promptly: the pause grows only while the same callers keep waiting.
      this.#pause.reset();
      this.#schedule(0);
    });
  }

  #schedule(delayMs: number): void {
    if (this.#round !== null) return;
    if (this.#timer !== null) {
      if (delayMs > 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#round = this.#runRound().finally(() => {
        this.#round = null;
        if (this.#waiters.size === 0) return;
        const unmarked = [...this.#waiters].some((w) => w.startLsn === null);
        this.#schedule(unmarked ? 0 : this.#pause.next());
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #runRound(): Promise<void> {
    this.stats.rounds++;
    const fresh = [...this.#waiters].filter((w) => w.startLsn === null);
    try {
      if (fresh.length > 0) {
        const start = await this.pool.query<{ lsn: string }>(
          'SELECT pg_current_wal_insert_lsn()::text AS lsn',
        );
        await this.pool.query(`SELECT pg_logical_emit_message(true, $1, '')`, [CHECKSUM_MESSAGE_PREFIX]);
        this.stats.marks++;
        const startLsn = parseLsn(start.rows[0]?.lsn ?? '0/0');
        for (const waiter of fresh) waiter.startLsn = startLsn;
      }
      const progress = await this.pool.query<{ covered: string | null }>(
        `SELECT greatest(s.last_commit_lsn, r.confirmed_flush_lsn)::text AS covered
           FROM sync_capture_state s LEFT JOIN pg_replication_slots r ON r.slot_name = s.slot_name
          WHERE s.slot_name = $1`,
        [this.options.slotName],
      );
      const text = progress.rows[0]?.covered ?? null;
      const covered = text === null ? null : parseLsn(text);
      const now = Date.now();
      for (const waiter of this.#waiters) {
        if (waiter.startLsn !== null && covered !== null && covered >= waiter.startLsn) {
          this.#settle(waiter, null);
        } else if (now >= waiter.deadline || waiter.signal?.aborted === true) {
          this.#settle(
            waiter,
            new SyncError('NOT_READY', 'the change log is behind; try again shortly', {
              waitedMs: waiter.timeoutMs,
            }),
          );
        }
      }
    } catch (error) {
      // A failed look fails those it was for; later callers get their own round.
      for (const waiter of fresh) this.#settle(waiter, error);
      for (const waiter of this.#waiters) if (Date.now() >= waiter.deadline) this.#settle(waiter, error);
    }
  }

  #settle(waiter: Waiter, error: unknown): void {
    this.#waiters.delete(waiter);
    if (error === null) waiter.resolve();
    else waiter.reject(error);
  }
}
