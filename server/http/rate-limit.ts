import type { FastifyReply, FastifyRequest } from 'fastify';
import { SyncError } from '../errors.ts';
import type { Auth } from '../auth/authenticator.ts';
import { authOf } from './auth.ts';

const WINDOW_MS = 60_000;

/**
 * Requests per key in fixed one-minute windows, on this node. Holds one counter per key seen in the
 * current window (the map is dropped as the window turns), so its memory follows the active tokens.
 */
export class RequestRateLimiter {
  #windowStart = 0;
  readonly #counts = new Map<string, number>();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request of `key`: null when it may pass, else the seconds until the window turns. */
  take(key: string): number | null {
    const now = this.now();
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#windowStart = now - (now % WINDOW_MS);
      this.#counts.clear();
    }
    const count = (this.#counts.get(key) ?? 0) + 1;
    if (count > this.perMinute) return Math.max(1, Math.ceil((this.#windowStart + WINDOW_MS - now) / 1000));
    this.#counts.set(key, count);
    return null;
  }
}

/**
 * Whose requests are counted together: a registered desk token by its `jti`, any other token by its
 * tenant and subject. Never the address: a school's desks share one NAT address.
 */
export function rateKey(auth: Auth): string {
  return auth.tokenId ?? `${auth.tenantId}/${auth.sub}`;
}

/**
 * An onRequest hook for authenticated routes (after `authenticate`): 429 RATE_LIMITED with Retry-After
 * once the caller's token has made the rules' limits.requestsPerMinute requests this minute.
 */
export function limitRequestRate(limiter: RequestRateLimiter) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const retryAfter = limiter.take(rateKey(authOf(request)));
    if (retryAfter === null) return;
    reply.header('retry-after', String(retryAfter));
    throw new SyncError(
      'RATE_LIMITED',
      `more than ${limiter.perMinute} requests this minute for this token; retry after ${retryAfter} s`,
    );
  };
}
