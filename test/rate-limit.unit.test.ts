import { describe, expect, it } from 'vitest';
import { RequestRateLimiter } from '../server/http/rate-limit.ts';

describe('RequestRateLimiter', () => {
  it('at most perMinute per key in a window, counted per key, Retry-After the seconds to the window’s turn', () => {
    let now = 120_000;
    const limiter = new RequestRateLimiter(2, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('b')]).toEqual([null, null, null]);
    now += 15_500;
    expect(limiter.take('a')).toBe(45);
    expect(limiter.take('b')).toBeNull();
    now = 180_000;
    expect(limiter.take('a')).toBeNull();
  });
});
