import { sleep } from '../../shared/timing.ts';
import type { Logger } from 'pino';
import type { Service } from '../service.ts';

export interface PeriodicOptions {
  name: string;
  everyMs: number;
  /** One round of work. A failure is logged and the next round runs on schedule. */
  tick: () => Promise<void>;
  /** Run the first round at once (default) rather than after one interval. */
  immediate?: boolean;
}

/**
 * The loop under the ops services: one round every `everyMs`, never two at once, stopped between rounds.
 * `stop()` waits for a round in progress, so nothing of the service runs after it resolves.
 */
export class Periodic implements Service {
  readonly name: string;
  private readonly abort = new AbortController();
  private running: Promise<void> | null = null;

  constructor(
    private readonly log: Logger,
    private readonly options: PeriodicOptions,
  ) {
    this.name = options.name;
  }

  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { signal } = this.abort;
    if (this.options.immediate === false) await sleep(this.options.everyMs, signal);
    while (!signal.aborted) {
      try {
        await this.options.tick();
      } catch (error) {
        this.log.error({ err: error }, `${this.name}: round failed; trying again next round`);
      }
      await sleep(this.options.everyMs, signal);
    }
  }
}
