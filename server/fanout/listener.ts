import { Backoff, sleep } from '../../shared/timing.ts';
import type pg from 'pg';
import type { Logger } from 'pino';
import { createClient, quoteIdentifier } from '../db/pool.ts';

export interface NotifyListenerOptions {
  connectionString: string;
  channel: string;
  /** Backoff between failed connections, doubling from min to max. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** How often the idle LISTEN connection is probed: a connection cut without a FIN is noticed only in use. */
  probeMs: number;
}

export interface NotifyHandlers {
  onNotify(payload: string): void;
  /** LISTEN is (again) in place: anything notified while it was not has been missed. */
  onListening(): void;
}

/**
 * One LISTEN connection that comes back after any failure. Notifications sent while it is down are lost,
 * which is why every (re)connection is reported through `onListening`.
 */
export class NotifyListener {
  readonly #abort = new AbortController();
  #client: pg.Client | null = null;
  #connections = 0;

  constructor(
    private readonly log: Logger,
    private readonly options: NotifyListenerOptions,
    private readonly handlers: NotifyHandlers,
  ) {}

  /** How many times LISTEN was established (1 after start, +1 per reconnection). */
  get connections(): number {
    return this.#connections;
  }

  get listening(): boolean {
    return this.#client !== null;
  }

  /** Listens until stop(); resolves then. */
  async run(): Promise<void> {
    const signal = this.#abort.signal;
    const backoff = new Backoff({
      baseMs: this.options.reconnectMinMs,
      maxMs: this.options.reconnectMaxMs,
      jitter: false,
    });
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await this.#session(signal);
      } catch (error) {
        if (signal.aborted) break;
        this.log.warn({ err: error, channel: this.options.channel }, 'LISTEN connection lost; reconnecting');
      }
      if (Date.now() - started > this.options.reconnectMaxMs) backoff.reset();
      await sleep(backoff.next(), signal);
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#client?.end().catch(() => undefined);
  }

  /** One connection's life: resolves when stopped, rejects when the connection fails. */
  async #session(signal: AbortSignal): Promise<void> {
    const client = createClient(this.options.connectionString, 'school-sync-fanout');
    let fail!: (error: Error) => void;
    const failed = new Promise<never>((_, reject) => {
      fail = reject;
    });
    failed.catch(() => undefined);
    client.on('error', (error) => fail(error));
    client.on('end', () => fail(new Error('LISTEN connection ended')));
    client.on('notification', (message) => {
      if (message.channel === this.options.channel) this.handlers.onNotify(message.payload ?? '');
    });
    const stopped = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    let probe: NodeJS.Timeout | undefined;
    try {
      await Promise.race([client.connect(), failed]);
      await Promise.race([client.query(`LISTEN ${quoteIdentifier(this.options.channel)}`), failed]);
      if (signal.aborted) return;
      this.#client = client;
      this.#connections++;
      this.handlers.onListening();
      probe = setInterval(() => {
        const timeout = AbortSignal.timeout(this.options.probeMs);
        const answered = client.query('SELECT 1');
        Promise.race([
          answered,
          new Promise((_, reject) =>
            timeout.addEventListener('abort', () => reject(new Error('LISTEN connection unresponsive'))),
          ),
        ]).catch((error: unknown) => fail(error instanceof Error ? error : new Error(String(error))));
      }, this.options.probeMs);
      await Promise.race([stopped, failed]);
    } finally {
      clearInterval(probe);
      this.#client = null;
      client.removeAllListeners('notification');
      await client.end().catch(() => undefined);
    }
  }
}
