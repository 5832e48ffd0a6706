/**
 * Desk catch-up: N changes (default 1 000 000) of one tenant's log brought into a fresh desk file by the
 * desk's own catch-up (desktop/sync CatchUp: /api/sync/down pages of 10 000 over real HTTP from a server in
 * its own process, each page applied with its cursor, group commit), beside the bare floor measured in the
 * same run: the same rows read with one SELECT (pg, this process) and inserted with one prepared
 * better-sqlite3 statement in one transaction into the desk's `entities` table.
 *
 *   npx tsx bench/desk-catchup.bench.ts [--events 1000000]
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openDatabase } from '../desktop/store/database.ts';
import { DeskStore } from '../desktop/store/index.ts';
import { CatchUp } from '../desktop/sync/catch-up.ts';
import { SyncHttp } from '../desktop/sync/sync-http.ts';
import { SyncStatusBoard } from '../desktop/sync/sync-status.ts';
import { signToken } from '../server/auth/tokens.ts';
import type { Pool } from '../server/db/pool.ts';
import { encodeCursor } from '../server/log/cursor.ts';
import { BENCH_JWT_SECRET, startDownServer } from './support/down-server-process.ts';
import { startBenchPostgres } from './support/postgres.ts';
import { numberArg, seedStudentEvents } from './support/seed-events.ts';
import { threadCpuSeconds } from './ws-support.ts';

const EVENTS = numberArg('--events', 1_000_000);
const LIMIT = 10_000;
const TARGET_SECONDS = 20;
/**
 * The store's group commit during bulk catch-up, as the desk's defaults have it (every 30 s or 250 000
 * changes): a desk doing a long catch-up loses little by committing seldom (a crash refetches the
 * uncommitted suffix of pages).
 */
const GROUP_COMMIT = {
  maxChanges: numberArg('--group-changes', 250_000),
  maxDelayMs: numberArg('--group-delay-ms', 30_000),
};
const TARGET_RATIO = 2;
const log = pino({ level: 'warn' });

/** STUDENT payloads of about 250 bytes straight into sync_events (what capture would have written). */
async function seed(pool: Pool, tenantId: string): Promise<void> {
  await seedStudentEvents(pool, tenantId, EVENTS);
}

interface Timing {
  seconds: number;
  changes: number;
  /** CPU time of the thread that applies, when measured. */
  threadCpuSeconds?: number;
}

/** The floor: one SELECT of the rows, one prepared INSERT per row in one SQLite transaction. */
async function floorRun(pool: Pool, tenantId: string, path: string): Promise<Timing> {
  const started = performance.now();
  const result = await pool.query<[string, string, string, string, string]>({
    text: `SELECT entity_type, entity_id::text, server_version::text, payload::text,
             to_char(modified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
           FROM sync_events WHERE tenant_id = $1 ORDER BY id`,
    values: [tenantId],
    rowMode: 'array',
  });
  const db = openDatabase(path);
  const insert = db.prepare(
    `INSERT INTO entities (entity_type, id, tenant_id, server_version, deleted, doc, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)`,
  );
  db.transaction(() => {
    for (const [type, id, version, payload, modifiedAt] of result.rows) {
      insert.run(type, id, tenantId, Number(version), payload, modifiedAt);
    }
  })();
  db.close();
  return { seconds: (performance.now() - started) / 1000, changes: result.rows.length };
}

/** The desk's catch-up from the start of the log into a fresh file. */
async function deskRun(port: number, token: string, tenantId: string, path: string): Promise<Timing> {
  const store = DeskStore.open(path, { tenantId, groupCommit: GROUP_COMMIT });
  // A fresh desk whose bootstrap ended before the first change: everything comes through /down.
  store.beginSnapshot();
  store.finishSnapshot(encodeCursor({ epoch: 0, eventId: 0 }));
  const status = new SyncStatusBoard();
  const catchUp = new CatchUp(log, {
    store,
    http: new SyncHttp(log, { serverUrl: `http://127.0.0.1:${port}`, token, timeoutMs: 120_000 }),
    status,
    options: { downLimit: LIMIT, snapshotLimit: LIMIT, entityTypes: null },
  });
  const started = performance.now();
  const cpuBefore = threadCpuSeconds();
  const result = await catchUp.catchUp(new AbortController().signal);
  const seconds = (performance.now() - started) / 1000;
  const cpu = threadCpuSeconds() - cpuBefore;
  const count = store.count('STUDENT');
  store.close();
  if (count !== EVENTS) throw new Error(`desk holds ${count} students, expected ${EVENTS}`);
  return { seconds, changes: result.applied, threadCpuSeconds: cpu };
}

const rate = (t: Timing): string => `${Math.round(t.changes / t.seconds).toLocaleString('en')} changes/s`;

async function main(): Promise<void> {
  const postgres = await startBenchPostgres({
    name: 'bench-desk-catchup',
    flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'shared_buffers=256MB'],
    poolMax: 2,
    log,
  });
  const { url: databaseUrl, pool } = postgres;
  const dir = mkdtempSync(join(tmpdir(), 'desk-catchup-bench-'));
  let child: ChildProcess | undefined;
  try {
    const tenantId = randomUUID();
    await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Bench school')`, [tenantId]);
    console.log(`seeding ${EVENTS.toLocaleString('en')} changes…`);
    await seed(pool, tenantId);

    const server = await startDownServer(databaseUrl, { LOG_LEVEL: 'warn' });
    child = server.child;
    const token = await signToken(BENCH_JWT_SECRET, { sub: 'bench', tenantId, role: 'desk' }, 3600);
    // Warm Postgres' cache with the floor's SELECT first, so both measured runs read warm pages.
    await floorRun(pool, tenantId, join(dir, 'warm.db'));
    const floor = await floorRun(pool, tenantId, join(dir, 'floor.db'));
    const desk = await deskRun(server.port, token, tenantId, join(dir, 'desk.db'));
    await pool.end();

    console.log(
      `desk catch-up of ${EVENTS.toLocaleString('en')} changes (pages of ${LIMIT.toLocaleString('en')}, ` +
        `group commit every ${GROUP_COMMIT.maxChanges.toLocaleString('en')} changes or ${GROUP_COMMIT.maxDelayMs} ms)`,
    );
    console.log(
      `  floor  ${floor.seconds.toFixed(2).padStart(6)} s  ${rate(floor)}  (one SELECT + one prepared INSERT txn)`,
    );
    console.log(
      `  desk   ${desk.seconds.toFixed(2).padStart(6)} s  ${rate(desk)}  (HTTP /down pages → DeskStore, group commit)`,
    );
    // Where a desk and its server share two cores, the wall time above is bound by all of their work; the
    // desk's own thread is what bounds a desk whose server is elsewhere (the floor is one thread throughout).
    const perChange = (seconds: number): string => `${((seconds * 1e6) / EVENTS).toFixed(1)} µs/change`;
    console.log(
      `  CPU    desk thread ${perChange(desk.threadCpuSeconds ?? desk.seconds)} (page worker beside it), floor ${perChange(floor.seconds)} (wall)`,
    );
    const ratio = desk.seconds / floor.seconds;
    const fast = desk.seconds <= TARGET_SECONDS;
    const close = ratio <= TARGET_RATIO;
    console.log(
      `  ratio  ${ratio.toFixed(2)}× floor → targets ≤ ${TARGET_SECONDS} s ${fast ? 'met' : 'NOT met'}, ` +
        `≤ ${TARGET_RATIO}× ${close ? 'met' : 'NOT met'}`,
    );
    if (!fast || !close) process.exitCode = 1;
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  } finally {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await postgres.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
