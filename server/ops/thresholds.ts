/** Retained WAL above which the slot guard and `status` warn: capture is behind or stopped. */
export const DEFAULT_WAL_WARN_BYTES = 1024 ** 3;
/** Retained WAL above which they report critical: the disk or max_slot_wal_keep_size comes next. */
export const DEFAULT_WAL_CRITICAL_BYTES = 4 * 1024 ** 3;

export interface WalThresholds {
  walWarnBytes: number;
  walCriticalBytes: number;
}

export function walThresholds(options: Partial<WalThresholds> = {}): WalThresholds {
  return {
    walWarnBytes: options.walWarnBytes ?? DEFAULT_WAL_WARN_BYTES,
    walCriticalBytes: options.walCriticalBytes ?? DEFAULT_WAL_CRITICAL_BYTES,
  };
}

/** 1536 → '1.5 KiB'. For messages and tables; JSON carries the plain number. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
