import Database from 'better-sqlite3';
import { migrate } from './migrations.ts';

export interface OpenDatabaseOptions {
  /** SQLite page cache in KiB (default 64 MiB): a catch-up rewrites index pages all over the file. */
  cacheSizeKiB?: number;
  /** WAL size, in pages, that triggers a checkpoint (default 100 000, ~400 MiB; SQLite's is 1 000). */
  walAutocheckpointPages?: number;
}

/**
 * Opens (creating if needed) a desk database file in WAL mode and brings its schema up to date.
 * `synchronous=NORMAL` in WAL mode keeps every commit safe from a crash of the app (kill -9); only a power
 * loss may drop the last commits, which the next catch-up or upload then repeats (both are idempotent).
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database.Database {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // The server enforces references; changes may arrive in any order within and across pages.
    db.pragma('foreign_keys = OFF');
    db.pragma('busy_timeout = 5000');
    db.pragma('temp_store = MEMORY');
    db.pragma(`cache_size = ${-Math.max(2048, Math.trunc(options.cacheSizeKiB ?? 65_536))}`);
    // Random UUID keys spread each page of changes over most index pages; checkpointing after every page
    // (SQLite's 4 MiB default) writes them all back to the file, and fsyncs it, each time. A larger WAL lets
    // one checkpoint write each page once for many pages of changes: a 1M-change catch-up committed page by
    // page went from ~40 s to ~28 s wall on the shared 2-core host (bench/desk-apply.bench.ts).
    db.pragma(
      `wal_autocheckpoint = ${Math.max(1000, Math.trunc(options.walAutocheckpointPages ?? 100_000))}`,
    );
    // …and once checkpointed, the WAL file is cut back instead of keeping its peak size on disk.
    db.pragma('journal_size_limit = 67108864');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
