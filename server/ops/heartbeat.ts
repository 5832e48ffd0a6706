import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';
import type { Service } from '../service.ts';
import { Periodic } from './periodic.ts';

/**
 * Prefix of the heartbeat's logical message. Capture stores nothing for it; the transaction that carries it
 * (begin, message, commit) is acknowledged like any other, which moves the slot's confirmed LSN.
 */
export const HEARTBEAT_MESSAGE_PREFIX = 'sync.heartbeat';

export interface HeartbeatOptions {
  pool: Pool;
  slotName: string;
  /** How often the slot is looked at, and how long it must have stood still before a beat (default 10 s). */
  intervalMs?: number;
  /** WAL written past the slot's confirmed LSN below which no beat is worth it (default 1 MiB). */
  minLagBytes?: number;
}

interface SlotProgress {
  active: boolean;
  confirmed: string | null;
  lag: number | null;
}

/**
 * Keeps the slot's confirmed LSN moving while the entity tables are quiet and the rest of the database is
 * not. Capture acknowledges what it receives; with nothing published to receive, the slot would keep all
 * WAL written elsewhere. When the slot's confirmed LSN has not moved for an interval, a streaming capture
 * holds it, and WAL has grown past it, one transactional logical message is written: pgoutput (with
 * messages on) sends it as a transaction, and capture's acknowledgement of that commit releases the WAL.
 */
export class Heartbeat implements Service {
  readonly name = 'heartbeat';
  private readonly loop: Periodic;
  private readonly minLagBytes: number;
  private previous: string | null = null;
  private beats = 0;

  constructor(
    private readonly log: Logger,
    private readonly options: HeartbeatOptions,
  ) {
    this.minLagBytes = options.minLagBytes ?? 1024 ** 2;
    this.loop = new Periodic(log, {
      name: this.name,
      everyMs: options.intervalMs ?? 10_000,
      immediate: false,
      tick: async () => {
        await this.tick();
      },
    });
  }

  /** Heartbeats written by this process. */
  get count(): number {
    return this.beats;
  }

  run(): Promise<void> {
    return this.loop.run();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One look at the slot; beats if it stood still since the last look. Returns the beat's LSN, if any. */
  async tick(): Promise<string | null> {
    const progress = await this.readProgress();
    const stood = progress.confirmed !== null && progress.confirmed === this.previous;
    this.previous = progress.confirmed;
    if (!stood || !progress.active || (progress.lag ?? 0) < this.minLagBytes) return null;
    const lsn = await this.beat();
    this.log.debug({ slot: this.options.slotName, lsn, lagBytes: progress.lag }, 'heartbeat written');
    return lsn;
  }

  /** Writes one heartbeat message; returns its LSN. */
  async beat(): Promise<string> {
    const result = await this.options.pool.query<{ lsn: string }>(
      `SELECT pg_logical_emit_message(true, $1, '')::text AS lsn`,
      [HEARTBEAT_MESSAGE_PREFIX],
    );
    this.beats++;
    return result.rows[0]?.lsn ?? '0/0';
  }

  private async readProgress(): Promise<SlotProgress> {
    const result = await this.options.pool.query<{
      active: boolean;
      confirmed: string | null;
      lag: number | null;
    }>(
      `SELECT active, confirmed_flush_lsn::text AS confirmed,
              pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag
         FROM pg_replication_slots WHERE slot_name = $1`,
      [this.options.slotName],
    );
    return result.rows[0] ?? { active: false, confirmed: null, lag: null };
  }
}
