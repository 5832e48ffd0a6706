import { describe, expect, it } from 'vitest';
import { CachedRead } from '../server/metrics/cached-read.ts';

describe('CachedRead', () => {
  it('shares one reading, a failure included, for its time to live, then reads again', async () => {
    let now = 1_000;
    let calls = 0;
    let fail = false;
    const cached = new CachedRead(
      () => {
        calls++;
        return fail ? Promise.reject(new Error('down')) : Promise.resolve(calls);
      },
      1_000,
      () => now,
    );
    const first = await Promise.all([cached.get(), cached.get()]);
    expect(first.map((r) => r.value)).toEqual([1, 1]);
    now += 999;
    expect((await cached.get()).value).toBe(1);
    now += 1;
    fail = true;
    await expect(cached.get()).rejects.toThrow('down');
    await expect(cached.get()).rejects.toThrow('down');
    expect(cached.reads).toBe(2);
    now += 1_000;
    fail = false;
    expect(await cached.get()).toEqual({ value: 3, readAt: now });
  });
});
