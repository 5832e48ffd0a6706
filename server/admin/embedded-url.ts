import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * How a server running an embedded Postgres tells `sync-admin` (and a DBA's psql) where that database is:
 * while it runs, it keeps the cluster's connection URL in `<SYNC_DATA_DIR>/database-url`, mode 0600,
 * because the URL carries the cluster's password. Plain text, one line, so `psql "$(cat .data/database-url)"`
 * works too. The file outlives a killed server: a reader must treat a refused connection as "not running".
 */
export const EMBEDDED_URL_FILE = 'database-url';

export function embeddedUrlPath(dataDir: string): string {
  return join(dataDir, EMBEDDED_URL_FILE);
}

/**
 * Records `url` for other processes. Written to a temporary file and renamed over the old one, so a reader
 * never sees half a URL and the file is 0600 from its first byte whatever an older copy's mode was.
 * Returns the file's path.
 */
export function writeEmbeddedUrl(dataDir: string, url: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = embeddedUrlPath(dataDir);
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, `${url}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  return path;
}

/** The URL a running server recorded under `dataDir`, or `undefined` when there is none. */
export function readEmbeddedUrl(dataDir: string): string | undefined {
  const url = readRecord(dataDir);
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    throw new Error(`${embeddedUrlPath(dataDir)} does not hold a postgres:// URL`);
  }
  return url;
}

/**
 * Removes the record when the server stops. With `url`, only when the file still holds that URL, so a
 * process never deletes a record another one wrote after it.
 */
export function removeEmbeddedUrl(dataDir: string, url?: string): void {
  if (url !== undefined && readRecord(dataDir) !== url) return;
  rmSync(embeddedUrlPath(dataDir), { force: true });
}

function readRecord(dataDir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(embeddedUrlPath(dataDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const url = text.trim();
  return url === '' ? undefined : url;
}
