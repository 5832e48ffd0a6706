import { sleep } from '../../shared/timing.ts';
import type pg from 'pg';
import type { Logger } from 'pino';
import { createClient } from '../db/pool.ts';

/**
 * Advisory lock namespace of capture leadership (two-key form, so it never meets SETUP_LOCK_KEY); the
 * second key is hashtext(slot name), one leader per slot.
 */
export const CAPTURE_LOCK_CLASS = 7_405_102;

/** How long a liveness probe of the lock connection may take before leadership counts as lost. */
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Held leadership: the session-level advisory lock on its own connection. `lost` resolves the moment that
 * connection fails or stops answering; from then on the holder must not store anything.
 */
export class Leadership {
  readonly lost: Promise<Error>;
  private markLost!: (reason: Error) => void;
  private isLost = false;
  private readonly probe: NodeJS.Timeout;
  private probing = 0;

  constructor(
    private readonly log: Logger,
    private readonly client: pg.Client,
    private readonly slotName: string,
    probeEveryMs: number,
  ) {
    this.lost = new Promise((resolve) => {
      this.markLost = (reason) => {
        if (this.isLost) return;
        this.isLost = true;
        resolve(reason);
      };
    });
    client.on('error', (error) => this.markLost(error));
    client.on('end', () => this.markLost(new Error('leader lock connection ended')));
    this.probe = setInterval(() => this.checkAlive(), probeEveryMs);
  }

  get held(): boolean {
    return !this.isLost;
  }

  /** Unlocks and closes the lock connection (closing alone would release the lock too). */
  async release(): Promise<void> {
    clearInterval(this.probe);
    if (this.isLost) {
      await this.client.end().catch(() => undefined);
      return;
    }
    this.markLost(new Error('leadership released'));
    try {
      await this.client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [
        CAPTURE_LOCK_CLASS,
        this.slotName,
      ]);
    } catch (error) {
      this.log.warn(
        { err: error },
        'unlocking capture leadership failed; closing its connection releases it',
      );
    }
    await this.client.end().catch(() => undefined);
  }

  // A connection cut without a FIN (network loss) is only noticed when it is used: probe it.
  private checkAlive(): void {
    if (this.isLost) return;
    if (this.probing !== 0) {
      if (Date.now() - this.probing > PROBE_TIMEOUT_MS)
        this.markLost(new Error('leader lock connection unresponsive'));
      return;
    }
    this.probing = Date.now();
    this.client.query('SELECT 1').then(
      () => {
        this.probing = 0;
      },
      (error: unknown) => this.markLost(error instanceof Error ? error : new Error(String(error))),
    );
  }
}

export interface ElectionOptions {
  connectionString: string;
  slotName: string;
  /** How often a standby tries the lock. */
  pollMs: number;
}

/** Waits until this process holds capture leadership for the slot; null when `signal` aborts first. */
export async function acquireLeadership(
  log: Logger,
  options: ElectionOptions,
  signal: AbortSignal,
): Promise<Leadership | null> {
  let waitingLogged = false;
  while (!signal.aborted) {
    const client = createClient(options.connectionString, 'school-sync-capture-lock');
    let failed: Error | null = null;
    client.on('error', (error) => {
      failed = error;
    });
    try {
      await client.connect();
      while (!signal.aborted && failed === null) {
        const result = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked',
          [CAPTURE_LOCK_CLASS, options.slotName],
        );
        if (result.rows[0]?.locked === true) {
          client.removeAllListeners('error');
          return new Leadership(log, client, options.slotName, options.pollMs);
        }
        if (!waitingLogged) log.info({ slot: options.slotName }, 'capture standby: another process leads');
        waitingLogged = true;
        await sleep(options.pollMs, signal);
      }
    } catch (error) {
      log.warn({ err: error }, 'capture leader election: lock connection failed; retrying');
    }
    await client.end().catch(() => undefined);
    await sleep(options.pollMs, signal);
  }
  return null;
}
