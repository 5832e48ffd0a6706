import { describe, expect, it } from 'vitest';
import { PROGRESS_RATE, RateMeter } from '../server/capture/rate.ts';

describe('RateMeter', () => {
  it('of its own counter: the events stored since the window began, per second, and 0 once quiet', () => {
    const meter = new RateMeter({ windowMs: 5_000, since: 0 });
    expect(meter.perSecond(0)).toBe(0);
    // 100 events every 100 ms for 10 s: 1 000 events/s.
    for (let at = 100; at <= 10_000; at += 100) meter.record(100, at);
    expect(meter.perSecond(10_000)).toBe(1_000);
    // Half the window quiet: half the rate; a whole window quiet: none.
    expect(meter.perSecond(12_500)).toBe(500);
    expect(meter.perSecond(15_000)).toBe(0);
    expect(meter.perSecond(60_000)).toBe(0);
  });

  it('of its own counter: before a whole window has passed, the rate is over the time since it started', () => {
    const meter = new RateMeter({ windowMs: 5_000, since: 0 });
    meter.record(500, 1_000);
    expect(meter.perSecond(2_000)).toBe(250);
    expect(meter.perSecond(5_000)).toBe(100);
    // The batch at 1 s leaves the window at 6 s.
    expect(meter.perSecond(5_999)).toBe(100);
    expect(meter.perSecond(6_000)).toBe(0);
  });

  it('of readings: unknown until two readings a minimum span apart, then the growth over the time between', () => {
    const meter = new RateMeter(PROGRESS_RATE);
    expect(meter.reading(1_000, 0)).toBeNull();
    expect(meter.reading(1_100, 500)).toBeNull();
    expect(meter.reading(1_250, 2_000)).toBe(125);
    // Growth is counted from the newest reading at or before the window's start (60 s back).
    expect(meter.reading(7_250, 62_000)).toBe(100);
    expect(meter.reading(7_250, 122_000)).toBe(0);
    // Readings are not known to be flat between them: one reading long ago spans the whole time.
    const sparse = new RateMeter(PROGRESS_RATE);
    sparse.reading(0, 0);
    expect(sparse.reading(6_000, 120_000)).toBe(50);
  });

  it('of readings: a counter that goes back (the progress row recreated) starts again', () => {
    const meter = new RateMeter(PROGRESS_RATE);
    meter.reading(5_000, 0);
    expect(meter.reading(6_000, 1_000)).toBe(1_000);
    expect(meter.reading(10, 2_000)).toBeNull();
    expect(meter.reading(30, 4_000)).toBe(10);
  });

  it('keeps one decimal', () => {
    const meter = new RateMeter(PROGRESS_RATE);
    meter.reading(0, 0);
    expect(meter.reading(10, 3_000)).toBe(3.3);
  });
});
