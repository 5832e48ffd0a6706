/**
 * Events per second from successive readings of sync_capture_state.events_stored, which every capture
 * leader advances in the transaction that stores the events. Any process can so tell the rate, leader or
 * not, from two readings at least `minSpanMs` apart within `windowMs`.
 */
export class EventsRate {
  private readonly samples: { at: number; events: number }[] = [];

  constructor(
    private readonly windowMs = 60_000,
    private readonly minSpanMs = 1_000,
  ) {}

  /** Records a reading and returns the rate over the window, or null with too little history. */
  record(events: number, at = Date.now()): number | null {
    const last = this.samples.at(-1);
    // A counter that went back (the progress row was recreated) starts the history again.
    if (last !== undefined && events < last.events) this.samples.length = 0;
    this.samples.push({ at, events });
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const span = at - first.at;
    if (span < this.minSpanMs) return null;
    return Math.round(((events - first.events) * 1000 * 10) / span) / 10;
  }
}
