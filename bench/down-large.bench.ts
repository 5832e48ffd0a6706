/**
 * Large-row catch-up: one tenant of 10 000 students of about 100 KB each (1 GB of JSON), caught up by a
 * desk through POST /api/sync/down (its log, at the largest limit a desk may ask, 10 000) and through POST
 * /api/sync/snapshot (its rows, limit 10 000), against the server in its own process (bench/down-server.ts,
 * default sync rules: pages capped at limits.pageMaxBytes = 4 MiB). Prints the server's peak RSS during
 * each catch-up beside its idle RSS measured in the same run, and the transfer rate beside the raw floor (a
 * bare keyset SELECT of the same rows with pg in this process). Exits 1 when a request fails, a change is
 * missing or repeated, or the peak passes idle + 256 MB.
 *
 *   npx tsx bench/down-large.bench.ts [--rows 10000] [--row-kb 100] [--limit 10000]
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { signToken } from '../server/auth/tokens.ts';
import { parseSyncRules } from '../server/config/rules.ts';
import type { Pool } from '../server/db/pool.ts';
import { BENCH_JWT_SECRET, readRssKb, sampleRss, startDownServer } from './support/down-server-process.ts';
import { startBenchPostgres } from './support/postgres.ts';
import { numberArg } from './support/seed-events.ts';

const ROWS = numberArg('--rows', 10_000);
const ROW_KB = numberArg('--row-kb', 100);
const LIMIT = numberArg('--limit', 10_000);
const PEAK_OVER_IDLE_MB = 256;

/** ROWS students whose notes hold ROW_KB KB of text, and one CREATE change of each in sync_events. */
async function seed(pool: Pool, tenantId: string): Promise<void> {
  const chunk = 500;
  for (let from = 1; from <= ROWS; from += chunk) {
    const to = Math.min(ROWS, from + chunk - 1);
    // md5 of the row number, repeated: text that differs per row (pglz still shrinks it on disk).
    await pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, notes)
       SELECT $1, gen_random_uuid(), 'Awa', 'Diallo ' || g, left(repeat(md5(g::text), $4::integer * 1024 / 32 + 1), $4::integer * 1024)
       FROM generate_series($2::integer, $3::integer) g`,
      [tenantId, from, to, ROW_KB],
    );
    process.stdout.write(`  seeded ${to.toLocaleString('en')} rows\r`);
  }
  process.stdout.write('\n');
  await pool.query(
    `INSERT INTO sync_events (tenant_id, entity_type, entity_id, operation, payload, server_version,
       commit_lsn, xid, modified_at, payload_bytes)
     SELECT s.tenant_id, 'STUDENT', s.id, 'CREATE', p.payload, s.server_version, '0/16B3748', 1000, s.updated_at,
       octet_length(p.payload::text)
     FROM students s,
       LATERAL (SELECT jsonb_build_object('id', s.id, 'tenantId', s.tenant_id, 'firstName', s.first_name,
         'lastName', s.last_name, 'notes', s.notes, 'serverVersion', s.server_version,
         'updatedAt', s.updated_at) AS payload) p
     WHERE s.tenant_id = $1 ORDER BY s.server_version`,
    [tenantId],
  );
  await pool.query('ANALYZE students, sync_events');
}

interface Run {
  changes: number;
  pages: number;
  bytes: number;
  largestPageBytes: number;
  seconds: number;
  ids: Set<string>;
}

/** Pages through one endpoint as a desk does: request, read, parse, follow the cursor or page token. */
async function catchUp(
  port: number,
  token: string,
  path: '/api/sync/down' | '/api/sync/snapshot',
): Promise<Run> {
  const run: Run = { changes: 0, pages: 0, bytes: 0, largestPageBytes: 0, seconds: 0, ids: new Set() };
  let next: Record<string, unknown> = { cursor: null };
  const started = performance.now();
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'accept-encoding': 'identity',
      },
      body: JSON.stringify({ clientId: 'bench-desk', limit: LIMIT, ...next }),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`${path}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    const page = JSON.parse(text) as {
      changes: { entityId: string }[];
      cursor: string;
      pageToken?: string;
      hasMore: boolean;
    };
    run.pages++;
    run.changes += page.changes.length;
    const bytes = Buffer.byteLength(text);
    run.bytes += bytes;
    run.largestPageBytes = Math.max(run.largestPageBytes, bytes);
    for (const change of page.changes) run.ids.add(change.entityId);
    if (!page.hasMore) break;
    next = path === '/api/sync/down' ? { cursor: page.cursor } : { pageToken: page.pageToken };
  }
  run.seconds = (performance.now() - started) / 1000;
  return run;
}

/** The raw floor: the same log rows by a bare keyset SELECT loop, pg parsing every payload. */
async function rawRun(pool: Pool, tenantId: string, pageRows: number): Promise<{ seconds: number }> {
  let after = 0;
  const started = performance.now();
  for (;;) {
    const result = await pool.query<{ id: number }>(
      `SELECT id, entity_type, entity_id, operation, payload, server_version, modified_at
       FROM sync_events WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [tenantId, after, pageRows],
    );
    const last = result.rows.at(-1);
    if (last === undefined || result.rows.length < pageRows) break;
    after = last.id;
  }
  return { seconds: (performance.now() - started) / 1000 };
}

const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
const peakOf = (samples: readonly number[]): number => samples.reduce((m, kb) => Math.max(m, kb), 0);

async function main(): Promise<void> {
  const pageMaxBytes = parseSyncRules({}).limits.pageMaxBytes;
  const postgres = await startBenchPostgres({
    name: 'bench-down-large',
    flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'shared_buffers=256MB'],
    poolMax: 2,
  });
  const { url: databaseUrl, pool } = postgres;
  let child: ChildProcess | undefined;
  let failed = false;
  try {
    const tenantId = randomUUID();
    await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Bench school')`, [tenantId]);
    console.log(`seeding ${ROWS.toLocaleString('en')} students of ${ROW_KB} KB and their changes…`);
    const seedStart = performance.now();
    await seed(pool, tenantId);
    console.log(`  seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
    // The floor pages by the rows a 4 MiB page holds, so that it reads what the server reads per page.
    const rowsPerPage = Math.max(1, Math.floor(pageMaxBytes / (ROW_KB * 1024)));
    await rawRun(pool, tenantId, rowsPerPage); // warm the cache for both measured runs
    const floor = await rawRun(pool, tenantId, rowsPerPage);

    const server = await startDownServer(databaseUrl);
    child = server.child;
    const token = await signToken(BENCH_JWT_SECRET, { sub: 'bench', tenantId, role: 'desk' }, 3600);
    // Idle: listening, one small request served (routes compiled, pool connected), nothing paged yet.
    const warm = await fetch(`http://127.0.0.1:${server.port}/api/sync/down`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'bench-desk', limit: 1 }),
    });
    await warm.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleKb = readRssKb(child.pid!) ?? 0;

    const results: { path: string; run: Run; peakKb: number }[] = [];
    for (const path of ['/api/sync/down', '/api/sync/snapshot'] as const) {
      const rss = sampleRss(child.pid!, 50);
      const run = await catchUp(server.port, token, path);
      rss.stop();
      results.push({ path, run, peakKb: peakOf(rss.samples.map((s) => s.kb)) });
    }
    await pool.end();

    console.log('');
    console.log(
      `catch-up of ${ROWS.toLocaleString('en')} changes of ~${ROW_KB} KB (limit ${LIMIT}, page budget ${mb(pageMaxBytes / 1024)})`,
    );
    console.log(`  server RSS idle  ${mb(idleKb)} (listening, one request served, before any catch-up)`);
    for (const { path, run, peakKb } of results) {
      const mbps = run.bytes / 1e6 / run.seconds;
      console.log(`  ${path}`);
      console.log(
        `    changes        ${run.changes.toLocaleString('en')} (${run.ids.size.toLocaleString('en')} distinct) in ${run.pages} pages, ${run.seconds.toFixed(1)} s, ${mbps.toFixed(0)} MB/s of JSON`,
      );
      console.log(`    largest page   ${mb(run.largestPageBytes / 1024)}`);
      console.log(
        `    server RSS     peak ${mb(peakKb)} = idle + ${mb(peakKb - idleKb)}   (target: idle + ${PEAK_OVER_IDLE_MB} MB at most)`,
      );
      if (run.changes !== ROWS || run.ids.size !== ROWS) {
        console.log(`    FAILED: expected ${ROWS} distinct changes`);
        failed = true;
      }
      if (peakKb - idleKb > PEAK_OVER_IDLE_MB * 1024) failed = true;
    }
    const floorMbps = results[0]!.run.bytes / 1e6 / floor.seconds;
    console.log(
      `  raw floor        ${floor.seconds.toFixed(1)} s, ${floorMbps.toFixed(0)} MB/s (bare keyset SELECT of the same log rows with pg, ${rowsPerPage} rows a page)`,
    );
  } finally {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await postgres.stop();
  }
  if (failed) process.exit(1);
}

await main();
