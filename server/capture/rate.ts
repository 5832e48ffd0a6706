/** Events per second over a sliding window, from the batches stored in it. */
export class RateMeter {
  private readonly samples: { at: number; count: number }[] = [];

  constructor(private readonly windowMs = 5_000) {}

  record(count: number, at = Date.now()): void {
    this.samples.push({ at, count });
    this.trim(at);
  }

  perSecond(at = Date.now()): number {
    this.trim(at);
    const total = this.samples.reduce((sum, s) => sum + s.count, 0);
    return Math.round((total * 1000) / this.windowMs);
  }

  private trim(at: number): void {
    while (this.samples.length > 0 && this.samples[0]!.at < at - this.windowMs) this.samples.shift();
  }
}
