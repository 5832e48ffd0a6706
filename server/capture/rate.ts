export interface RateMeterOptions {
  /** How far back the rate looks (default 5 s). */
  windowMs?: number;
  /** With less history than this the rate is unknown: null (default 0). */
  minSpanMs?: number;
  /** 'own' (default): the meter keeps the counter, fed by `record`; 'read': fed readings by `reading`. */
  counter?: 'own' | 'read';
  /** When an own counter starts at 0 (default: now). */
  since?: number;
}

interface Sample {
  at: number;
  total: number;
}

/**
 * Events per second: how much an event counter grew since the window's start, over the time since then.
 * Two ways to feed it, one estimate:
 * - `new RateMeter()` keeps its own counter, which capture adds each stored batch to (`record`). The meter
 *   knows that counter at every instant (flat between batches, 0 before the first), so the rate is the
 *   growth since exactly the window's start (or since the meter was made, when that is later).
 * - `new RateMeter({ counter: 'read' })` is fed readings of a counter kept elsewhere (`reading`): the
 *   progress row's events_stored, which every capture leader advances in the transaction that stores the
 *   events, so any process, leader or not, can tell the rate. Only the readings are known, so the growth
 *   is taken since the newest reading at or before the window's start (else the oldest), over the time
 *   since that reading.
 * A counter that goes back (the progress row was recreated) starts the history again.
 */
export class RateMeter {
  private readonly samples: Sample[] = [];
  private readonly windowMs: number;
  private readonly minSpanMs: number;
  /** The counter is this meter's own, and so known between samples. */
  private readonly owned: boolean;

  constructor(options: RateMeterOptions = {}) {
    this.windowMs = options.windowMs ?? 5_000;
    this.minSpanMs = options.minSpanMs ?? 0;
    this.owned = options.counter !== 'read';
    // A counter read elsewhere is unknown until its first reading.
    if (this.owned) this.samples.push({ at: options.since ?? Date.now(), total: 0 });
  }

  /** Adds `count` events, stored at `at`, to the meter's own counter. */
  record(count: number, at = Date.now()): void {
    this.reading((this.samples.at(-1)?.total ?? 0) + count, at);
  }

  /** The counter's value at `at`; returns the rate then (null: less than `minSpanMs` of history). */
  reading(total: number, at = Date.now()): number | null {
    const last = this.samples.at(-1);
    if (last !== undefined && total < last.total) this.samples.length = 0;
    this.samples.push({ at, total });
    const start = at - this.windowMs;
    // Keep the newest sample at or before the window's start: it is where the growth is counted from.
    while (this.samples.length > 1 && this.samples[1]!.at <= start) this.samples.shift();
    const base = this.samples[0]!;
    const from = this.owned ? Math.max(base.at, start) : base.at;
    const span = at - from;
    if (span <= 0 || span < this.minSpanMs) return null;
    return Math.round(((total - base.total) * 1000 * 10) / span) / 10;
  }

  /** The rate of the meter's own counter now: growth since the window's start (0 when unknown). */
  perSecond(at = Date.now()): number {
    return this.reading(this.samples.at(-1)?.total ?? 0, at) ?? 0;
  }
}

/**
 * The rate from readings of the progress row's events_stored (`sync-admin status`, GET
 * /api/admin/replication on any node): over the last minute, from two readings at least a second apart.
 */
export const PROGRESS_RATE = {
  counter: 'read',
  windowMs: 60_000,
  minSpanMs: 1_000,
} as const satisfies RateMeterOptions;
