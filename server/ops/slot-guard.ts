import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';
import type { Service } from '../service.ts';
import { Periodic } from './periodic.ts';
import { recoverSlot, type SlotRestart } from './slot.ts';
import { formatBytes, walThresholds } from './thresholds.ts';

/** A finding of one check, for a log line and a metric. */
export interface SlotWarning {
  slotName: string;
  level: 'ok' | 'warning' | 'critical';
  /** WAL the slot holds (null: no slot, or a lost one). */
  retainedBytes: number | null;
  walStatus: string | null;
  active: boolean;
}

export interface SlotGuardOptions {
  pool: Pool;
  slotName: string;
  /** Seconds between checks (default 30). */
  checkSeconds?: number;
  /** Retained WAL that logs a warning (default 1 GiB). */
  walWarnBytes?: number;
  /** Retained WAL that logs an error (default 4 GiB). */
  walCriticalBytes?: number;
  /** Every check's finding, ok included, so a gauge follows it. Must not throw. */
  onWarning?: (warning: SlotWarning) => void;
  /**
   * After the slot was recreated and every epoch bumped. Capture must then restart its stream from the new
   * slot (its progress row was reset to 0/0). Awaited; a failure is logged.
   */
  onSlotRecreated?: (restart: SlotRestart) => void | Promise<void>;
}

/** While the level stays the same, it is logged again this often. */
const REPEAT_LOG_MS = 10 * 60_000;

/**
 * Watches the replication slot. Retained WAL over the thresholds (or wal_status 'unreserved') is logged and
 * reported; a slot that is lost or missing is recreated at once, every tenant's epoch bumped so every desk
 * resnapshots, and logged at error level: changes may have been dropped, and no desk is left believing
 * otherwise.
 */
export class SlotGuard implements Service {
  readonly name = 'slot-guard';
  private readonly loop: Periodic;
  private readonly thresholds: { walWarnBytes: number; walCriticalBytes: number };
  private lastLogged: { level: SlotWarning['level']; at: number } = { level: 'ok', at: 0 };

  constructor(
    private readonly log: Logger,
    private readonly options: SlotGuardOptions,
  ) {
    this.thresholds = walThresholds(options);
    this.loop = new Periodic(log, {
      name: this.name,
      everyMs: (options.checkSeconds ?? 30) * 1000,
      tick: async () => {
        await this.check();
      },
    });
  }

  run(): Promise<void> {
    return this.loop.run();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One check; recovers the slot when it must. Returns the recovery it did, if any. */
  async check(): Promise<SlotRestart | null> {
    const { pool, slotName } = this.options;
    const result = await pool.query<{
      wal_status: string | null;
      active: boolean;
      retained: number | null;
    }>(
      `SELECT wal_status, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slotName],
    );
    const row = result.rows[0];
    if (row === undefined || row.wal_status === 'lost') {
      this.report({
        slotName,
        level: 'critical',
        retainedBytes: null,
        walStatus: row?.wal_status ?? null,
        active: false,
      });
      return this.recover();
    }
    const retained = row.retained ?? 0;
    const level =
      retained >= this.thresholds.walCriticalBytes || row.wal_status === 'unreserved'
        ? 'critical'
        : retained >= this.thresholds.walWarnBytes
          ? 'warning'
          : 'ok';
    const warning: SlotWarning = {
      slotName,
      level,
      retainedBytes: retained,
      walStatus: row.wal_status,
      active: row.active,
    };
    this.report(warning);
    this.logLevel(warning);
    return null;
  }

  private async recover(): Promise<SlotRestart | null> {
    const restart = await recoverSlot(this.options.pool, this.log, this.options.slotName);
    if (restart === null) return null;
    this.log.error(
      {
        slot: restart.slotName,
        previous: restart.previous,
        tenants: restart.tenants,
        from: restart.consistentLsn,
      },
      `replication slot recreated after it was ${restart.previous}: every cursor issued before now gets 410 ` +
        'and every desk resnapshots; changes made while the slot was gone reach desks through that snapshot',
    );
    try {
      await this.options.onSlotRecreated?.(restart);
    } catch (error) {
      this.log.error({ err: error }, 'onSlotRecreated failed: capture may not have restarted');
    }
    return restart;
  }

  private report(warning: SlotWarning): void {
    try {
      this.options.onWarning?.(warning);
    } catch (error) {
      this.log.error({ err: error }, 'onWarning failed');
    }
  }

  /** Logs a change of level at once, and a level that persists every REPEAT_LOG_MS. */
  private logLevel(warning: SlotWarning): void {
    const now = Date.now();
    const changed = warning.level !== this.lastLogged.level;
    if (!changed && (warning.level === 'ok' || now - this.lastLogged.at < REPEAT_LOG_MS)) return;
    this.lastLogged = { level: warning.level, at: now };
    const details = {
      slot: warning.slotName,
      retainedBytes: warning.retainedBytes,
      walStatus: warning.walStatus,
      active: warning.active,
    };
    const retained = formatBytes(warning.retainedBytes ?? 0);
    if (warning.level === 'ok') {
      this.log.info(details, `replication slot back to normal: retains ${retained} of WAL`);
    } else if (warning.level === 'warning') {
      this.log.warn(
        details,
        `replication slot retains ${retained} of WAL (warning above ${formatBytes(this.thresholds.walWarnBytes)}): ` +
          'capture is behind or stopped',
      );
    } else {
      this.log.error(
        details,
        `replication slot retains ${retained} of WAL, wal_status ${warning.walStatus ?? '?'} ` +
          `(critical above ${formatBytes(this.thresholds.walCriticalBytes)}): the slot will be lost or the ` +
          'disk fill unless capture catches up',
      );
    }
  }
}
