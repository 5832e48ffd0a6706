/** Exponential backoff with full jitter: the n-th wait is uniform in [0, min(max, base · 2^n)]. */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Source of randomness in [0, 1) (tests pin it). */
  random?: () => number;
}

export class Backoff {
  private failures = 0;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    this.random = options.random ?? Math.random;
  }

  get attempts(): number {
    return this.failures;
  }

  /**
   * The delay before the next attempt. A server's Retry-After is a floor, still capped by `maxMs` so that a
   * desk never waits longer than its configured patience.
   */
  next(retryAfterMs: number | null = null): number {
    const ceiling = Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    const jittered = Math.floor(this.random() * ceiling);
    return retryAfterMs === null ? jittered : Math.min(this.options.maxMs, Math.max(jittered, retryAfterMs));
  }

  reset(): void {
    this.failures = 0;
  }
}

/** Retry-After as seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A wake-up flag a loop sleeps on: `wait` returns early once `wake()` has been called since the last wait. */
export class Wakeup {
  private pending = false;
  private waiter: (() => void) | null = null;

  wake(): void {
    this.pending = true;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** Sleeps up to `ms`; true when woken (by wake() or the signal) rather than timed out. */
  async wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.pending || signal?.aborted === true) {
      this.pending = false;
      return true;
    }
    let woken = false;
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.waiter = () => {
      woken = true;
      controller.abort();
    };
    await sleep(ms, controller.signal);
    signal?.removeEventListener('abort', onAbort);
    this.waiter = null;
    this.pending = false;
    return woken || isAborted(signal);
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted ?? false;
}
