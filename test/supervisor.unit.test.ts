import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Supervisor, type Service } from '../server/service.ts';
import { waitFor } from './support/wait.ts';

/** A service whose first `failures` runs reject; later runs last until stop(). */
class Flaky implements Service {
  runs = 0;
  stops = 0;
  #release: (() => void) | null = null;
  constructor(
    readonly name: string,
    private readonly failures: number,
  ) {}
  run(): Promise<void> {
    this.runs += 1;
    if (this.runs <= this.failures) return Promise.reject(new Error(`run ${this.runs} broke`));
    return new Promise((resolve) => (this.#release = resolve));
  }
  stop(): Promise<void> {
    this.stops += 1;
    this.#release?.();
    return Promise.resolve();
  }
}

describe('the service supervisor', () => {
  it('starts a failed service again with backoff, reports it as failing meanwhile, and stops everything once', async () => {
    const supervisor = new Supervisor(pino({ level: 'silent' }), { restartMinMs: 200, restartMaxMs: 400 });
    const flaky = new Flaky('flaky', 2);
    const steady = new Flaky('steady', 0);
    supervisor.start(flaky);
    supervisor.start(steady);
    await waitFor(() => supervisor.failures.length === 1);
    expect(supervisor.failures[0]).toMatchObject({ name: 'flaky', restarts: 1, error: 'run 1 broke' });
    await waitFor(() => flaky.runs === 3, { timeoutMs: 5000 });
    await waitFor(() => supervisor.failures.length === 0);
    expect(steady.runs).toBe(1);
    await supervisor.stop();
    expect([flaky.stops, steady.stops]).toEqual([1, 1]);
  });

  it('does not start again a service whose run() ended on its own, nor any after stop()', async () => {
    const supervisor = new Supervisor(pino({ level: 'silent' }), { restartMinMs: 50 });
    let runs = 0;
    supervisor.start({
      name: 'once',
      run: () => Promise.resolve(void runs++),
      stop: () => Promise.resolve(),
    });
    const broken = new Flaky('broken', 1000);
    supervisor.start(broken);
    await waitFor(() => broken.runs >= 2);
    await supervisor.stop();
    const after = broken.runs;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(broken.runs).toBe(after);
    expect(runs).toBe(1);
  });
});
