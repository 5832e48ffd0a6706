import type { Pool } from '../db/pool.ts';

/** What a scrape reads from the database; null where the fact does not exist (no slot, no progress row). */
export interface DatabaseFacts {
  /** WAL written past the slot's confirmed_flush_lsn: decoded-and-stored work capture still owes. */
  lagBytes: number | null;
  /** WAL the slot keeps on disk: current WAL position minus restart_lsn. */
  retainedBytes: number | null;
  /** Seconds since the commit time of the last transaction capture stored. */
  lagSeconds: number | null;
  /** sync_events rows: the planner's estimate (reltuples), or the statistics' live rows before any ANALYZE. */
  eventRows: number | null;
}

// One round trip of catalog and one-row lookups: nothing here scans a table, so a scrape stays cheap on
// a log of any size. reltuples is -1 until the table was first analyzed; n_live_tup covers that window.
const FACTS_SQL = `
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::float8 AS lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8 AS retained_bytes,
       (SELECT extract(epoch FROM clock_timestamp() - c.last_commit_time)::float8
          FROM sync_capture_state c WHERE c.slot_name = $1) AS lag_seconds,
       (SELECT CASE WHEN t.reltuples >= 0 THEN t.reltuples::float8
                    ELSE (SELECT n_live_tup::float8 FROM pg_stat_user_tables WHERE relid = t.oid) END
          FROM pg_class t WHERE t.oid = to_regclass('sync_events')) AS event_rows
  FROM (SELECT 1) AS one
  LEFT JOIN pg_replication_slots s ON s.slot_name = $1`;

/**
 * Reads the scrape-time facts in one query. Rejects when the database errs or does not answer within
 * `timeoutMs`: a scrape must not hang on a stuck pool.
 */
export async function readDatabaseFacts(
  pool: Pool,
  slotName: string,
  timeoutMs: number,
): Promise<DatabaseFacts> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const result = await Promise.race([
      pool.query<{
        lag_bytes: number | null;
        retained_bytes: number | null;
        lag_seconds: number | null;
        event_rows: number | null;
      }>(FACTS_SQL, [slotName]),
      timeout,
    ]);
    const row = result.rows[0];
    return {
      lagBytes: row?.lag_bytes ?? null,
      retainedBytes: row?.retained_bytes ?? null,
      lagSeconds:
        row?.lag_seconds === null || row?.lag_seconds === undefined ? null : Math.max(0, row.lag_seconds),
      eventRows: row?.event_rows ?? null,
    };
  } finally {
    clearTimeout(timer);
  }
}
