import type { Logger } from 'pino';
import { Backoff, sleep } from '../shared/timing.ts';

/** A long-running part of the server. `run()` resolves when the service has stopped for good. */
export interface Service {
  readonly name: string;
  run(): Promise<void>;
  stop(): Promise<void>;
}

/** What a supervisor reports: a service whose run() failed and that waits to be started again. */
export interface ServiceFailure {
  name: string;
  since: string;
  restarts: number;
  error: string;
}

export interface SupervisorOptions {
  /** First and longest wait before a failed service is started again. */
  restartMinMs?: number;
  restartMaxMs?: number;
}

/**
 * Runs services and starts again, with backoff, any whose run() rejects: a long-running part that fails is
 * never left dead. From its failure until it is started again, `failures` names it (/healthz is then not
 * ready). A service whose
 * run() resolves has stopped for good and is not restarted. `stop()` stops them in reverse order.
 */
export class Supervisor {
  readonly #running: { service: Service; done: Promise<void> }[] = [];
  readonly #failing = new Map<string, ServiceFailure>();
  readonly #abort = new AbortController();

  constructor(
    private readonly log: Logger,
    private readonly options: SupervisorOptions = {},
  ) {}

  get failures(): ServiceFailure[] {
    return [...this.#failing.values()];
  }

  start(service: Service): void {
    this.#running.push({ service, done: this.#supervise(service) });
  }

  async #supervise(service: Service): Promise<void> {
    const signal = this.#abort.signal;
    const backoff = new Backoff({
      baseMs: this.options.restartMinMs ?? 500,
      maxMs: this.options.restartMaxMs ?? 30_000,
      jitter: false,
    });
    for (let restarts = 0; !signal.aborted; restarts++) {
      try {
        await service.run();
        this.#failing.delete(service.name);
        return;
      } catch (error) {
        if (signal.aborted) return;
        const delay = backoff.next();
        this.#failing.set(service.name, {
          name: service.name,
          since: new Date().toISOString(),
          restarts: restarts + 1,
          error: error instanceof Error ? error.message : String(error),
        });
        this.log.error(
          { err: error, service: service.name, restartInMs: delay },
          'service failed; restarting it',
        );
        await sleep(delay, signal);
        // Started again: ready unless it fails anew.
        this.#failing.delete(service.name);
      }
    }
  }

  /** Stops every service, the last started first, and waits for each run() to end. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const { service, done } of this.#running.splice(0).reverse()) {
      await service
        .stop()
        .catch((error: unknown) =>
          this.log.error({ err: error, service: service.name }, 'error while stopping'),
        );
      await done;
    }
  }
}
