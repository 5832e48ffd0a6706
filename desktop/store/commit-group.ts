import type Database from 'better-sqlite3';

export interface CommitGroupOptions {
  /**
   * Commit once this many changes wait in the open transaction (default 250 000). Memory is not the limit
   * (SQLite spills dirty pages to the WAL); it bounds the work a crash throws away, to be fetched again.
   */
  maxChanges?: number;
  /**
   * Commit at the latest this long after the first deferred page (default 30 000 ms). A catch-up flushes when
   * it ends, so this only bounds a long one; `maxChanges` bounds the work a crash loses.
   */
  maxDelayMs?: number;
}

/**
 * Group commit for catch-up. Every page still runs in its own SAVEPOINT together with its cursor, so a
 * page is all-or-nothing; several pages share one COMMIT. A crash loses a suffix of whole pages and the
 * cursor that goes with them, which the next catch-up fetches again. Why: with random UUID keys each commit
 * rewrites most index pages, so committing every 10 000 changes costs about twice a single transaction.
 */
export class CommitGroup {
  private open = false;
  private waiting = 0;
  private cursor: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxChanges: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly db: Database.Database,
    options: CommitGroupOptions,
    private readonly onCommit: (cursor: string | null) => void,
    private readonly onError: (err: Error) => void,
  ) {
    this.maxChanges = options.maxChanges ?? 250_000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Runs `page` inside the group's transaction (as a savepoint) and commits when the group is full. */
  run<T>(size: number, cursor: string | null, page: () => T): T {
    if (!this.open) {
      this.db.exec('BEGIN IMMEDIATE');
      this.open = true;
      this.timer = setTimeout(() => this.flushFromTimer(), this.maxDelayMs);
      this.timer.unref();
    }
    const result = this.db.transaction(page)();
    this.waiting += size;
    if (cursor !== null) this.cursor = cursor;
    if (this.waiting >= this.maxChanges) this.flush();
    return result;
  }

  /** Commits the open group, if any. Every other write of the store calls this first. */
  flush(): void {
    if (!this.open) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const cursor = this.cursor;
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    } finally {
      this.open = false;
      this.waiting = 0;
      this.cursor = null;
    }
    this.onCommit(cursor);
  }

  private flushFromTimer(): void {
    try {
      this.flush();
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err), { cause: err }));
    }
  }
}
