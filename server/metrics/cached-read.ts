/**
 * One database reading shared for `ttlMs`: callers within that time (or while it is in flight) get the
 * same outcome, a failure included, so that /healthz and /metrics cost the database at most one reading
 * per second however often they are polled.
 */
export class CachedRead<T> {
  #value: Promise<T> | null = null;
  #readAt = 0;
  /** Readings made (not calls), for tests and operations. */
  reads = 0;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly ttlMs = 1_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The reading, and when it was made (ms since the epoch). */
  async get(): Promise<{ value: T; readAt: number }> {
    const now = this.now();
    if (this.#value === null || now - this.#readAt >= this.ttlMs) {
      this.reads++;
      this.#readAt = now;
      this.#value = this.read();
      // Awaited by every caller below; a rejection is theirs, never an unhandled one.
      this.#value.catch(() => undefined);
    }
    const readAt = this.#readAt;
    return { value: await this.#value, readAt };
  }
}
