/** Waiting, in one place: backoff between attempts, Retry-After, sleeps that end on abort, wake-ups. */

/**
 * The longest a server's Retry-After can park a desk: a broken or hostile header ("Retry-After: 9999999")
 * must not silence a desk for days.
 */
export const RETRY_AFTER_CEILING_MS = 3_600_000;

/**
 * Exponential backoff with full jitter: the n-th wait is uniform in [0, min(max, base · 2^n)]; without jitter
 * (one server process reconnecting to its own database) it is exactly min(max, base · 2^n).
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Default true: many desks retrying one server must not retry in step. */
  jitter?: boolean;
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
   * The delay before the next attempt. A server's Retry-After is a floor and wins over `maxMs`: the server
   * knows how long it needs, and a desk retrying sooner only adds to its load. It is capped by
   * RETRY_AFTER_CEILING_MS alone.
   */
  next(retryAfterMs: number | null = null): number {
    const ceiling = Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    const jittered = this.options.jitter === false ? ceiling : Math.floor(this.random() * ceiling);
    if (retryAfterMs === null) return jittered;
    return Math.min(RETRY_AFTER_CEILING_MS, Math.max(jittered, retryAfterMs));
  }

  reset(): void {
    this.failures = 0;
  }
}

const DELTA_SECONDS = /^\d+$/;
/** Every HTTP-date form (IMF-fixdate, RFC 850, asctime) names its month; Date.parse alone takes "x 1". */
const HTTP_DATE_MONTH = /\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\b/i;

/** Retry-After (RFC 9110) as delta-seconds or an HTTP-date, in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  const text = value?.trim() ?? '';
  if (DELTA_SECONDS.test(text)) return Number(text) * 1000;
  if (!HTTP_DATE_MONTH.test(text)) return null;
  // asctime ("Sun Nov  6 08:49:37 1994") names no zone, which Date.parse would take as local time.
  const at = Date.parse(/\d{4}$/.test(text) ? `${text} GMT` : text);
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
