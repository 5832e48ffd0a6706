/**
 * Catch-up read benchmark: one tenant with 1 000 000 events paged through POST /api/sync/down at limit
 * 10 000 over real HTTP, against the raw floor (a bare keyset SELECT loop with pg in this process).
 * Reports changes/s, bytes per change (raw and gzip) and the server's RSS from start to end.
 *
 *   npx tsx bench/down.bench.ts [--events 1000000] [--limit 10000]
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { signToken } from '../server/auth/tokens.ts';
import type { Pool } from '../server/db/pool.ts';
import { BENCH_JWT_SECRET, sampleRss, startDownServer } from './support/down-server-process.ts';
import { startBenchPostgres } from './support/postgres.ts';
import { numberArg, seedStudentEvents } from './support/seed-events.ts';

const EVENTS = numberArg('--events', 1_000_000);
const LIMIT = numberArg('--limit', 10_000);
const GZIP_EVERY = 5;

/** STUDENT-like payloads of about 200 bytes, in 1 000-row transactions' worth of commit times. */
async function seed(pool: Pool, tenantId: string): Promise<void> {
  await seedStudentEvents(pool, tenantId, EVENTS, {
    updateEvery: 10,
    onProgress: (seeded) => process.stdout.write(`  seeded ${seeded.toLocaleString('en')} events\r`),
  });
  process.stdout.write('\n');
  const size = await pool.query<{ bytes: number }>(
    'SELECT avg(length(payload::text))::integer AS bytes FROM sync_events TABLESAMPLE SYSTEM (1)',
  );
  console.log(`  average payload: ${size.rows[0]?.bytes ?? '?'} bytes of JSON text`);
}

interface Run {
  changes: number;
  seconds: number;
}

/** Pages through the tenant's log over HTTP as a desk does: request, read, parse, follow the cursor. */
async function httpRun(
  port: number,
  token: string,
  onPage: (body: string, count: number) => void,
): Promise<Run> {
  let cursor: string | null = null;
  let changes = 0;
  const started = performance.now();
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${port}/api/sync/down`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'accept-encoding': 'identity',
      },
      body: JSON.stringify({ clientId: 'bench-desk', cursor, limit: LIMIT }),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${text.slice(0, 300)}`);
    const page = JSON.parse(text) as { changes: unknown[]; cursor: string; hasMore: boolean };
    changes += page.changes.length;
    onPage(text, page.changes.length);
    cursor = page.cursor;
    if (!page.hasMore) break;
  }
  return { changes, seconds: (performance.now() - started) / 1000 };
}

/** The raw floor: the same rows by a bare keyset SELECT loop, pg parsing every row (payload included). */
async function rawRun(pool: Pool, tenantId: string): Promise<Run> {
  let after = 0;
  let changes = 0;
  const started = performance.now();
  for (;;) {
    const result = await pool.query<{ id: number }>(
      `SELECT id, entity_type, entity_id, operation, payload, server_version, modified_at
       FROM sync_events WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [tenantId, after, LIMIT],
    );
    changes += result.rows.length;
    const last = result.rows.at(-1);
    if (last === undefined || result.rows.length < LIMIT) break;
    after = last.id;
  }
  return { changes, seconds: (performance.now() - started) / 1000 };
}

/** Median time of the first page (cursor null), with or without countRemaining, over `rounds` requests. */
async function firstPageMs(
  port: number,
  token: string,
  countRemaining: boolean,
  rounds = 15,
): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${port}/api/sync/down`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        clientId: 'bench-desk',
        limit: LIMIT,
        ...(countRemaining ? { countRemaining } : {}),
      }),
    });
    const page = (await response.json()) as { remaining?: number };
    times.push(performance.now() - started);
    if (countRemaining && page.remaining === undefined) throw new Error('no remaining in the answer');
  }
  return times.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
}

const peak = (samples: readonly { kb: number }[]): number => samples.reduce((m, s) => Math.max(m, s.kb), 0);

/** Peak RSS while each tenth of the pages was being served: flat when memory does not grow with the backlog. */
function rssByTenth(samples: readonly { at: number; kb: number }[], pageMarks: readonly number[]): number[] {
  const peaks: number[] = [];
  for (let tenth = 0; tenth < 10; tenth++) {
    const from = pageMarks[Math.floor((pageMarks.length * tenth) / 10) - 1] ?? 0;
    const to = pageMarks[Math.floor((pageMarks.length * (tenth + 1)) / 10) - 1] ?? Infinity;
    peaks.push(peak(samples.filter((s) => s.at >= from && s.at <= to)));
  }
  return peaks;
}

/** Bytes per change after gzip at `level`, and what compressing costs one core (MB/s of JSON in). */
function gzipFigures(sampled: readonly { body: string; count: number }[], level: number): string {
  let raw = 0;
  let zipped = 0;
  let changes = 0;
  const started = performance.now();
  for (const { body, count } of sampled) {
    const buffer = Buffer.from(body);
    raw += buffer.length;
    zipped += gzipSync(buffer, { level }).length;
    changes += count;
  }
  const seconds = (performance.now() - started) / 1000;
  return (
    `${(zipped / changes).toFixed(1)} gzip level ${level} (ratio ${(raw / zipped).toFixed(1)}x; ` +
    `${(raw / 1e6 / seconds).toFixed(0)} MB/s of JSON per core, i.e. ${Math.round(changes / seconds).toLocaleString('en')} changes/s; ` +
    `${sampled.length} pages sampled)`
  );
}

function mb(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  const postgres = await startBenchPostgres({
    name: 'bench-down',
    flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'shared_buffers=256MB'],
    poolMax: 2,
  });
  const { url: databaseUrl, pool } = postgres;
  let child: ChildProcess | undefined;
  try {
    const tenantId = randomUUID();
    await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Bench school')`, [tenantId]);
    console.log(`seeding ${EVENTS.toLocaleString('en')} sync_events for one tenant…`);
    const seedStart = performance.now();
    await seed(pool, tenantId);
    console.log(`  seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

    // Warm the cache once so that both measured runs read the same warm pages.
    await rawRun(pool, tenantId);

    const server = await startDownServer(databaseUrl);
    child = server.child;
    const token = await signToken(BENCH_JWT_SECRET, { sub: 'bench', tenantId, role: 'desk' }, 3600);
    const rss = sampleRss(child.pid!, 100);
    const startRssKb = rss.samples.at(-1)?.kb ?? 0;
    let rawBytes = 0;
    let pages = 0;
    const sampled: { body: string; count: number }[] = [];
    const pageMarks: number[] = [];
    const http = await httpRun(server.port, token, (body, count) => {
      pages++;
      pageMarks.push(performance.now());
      rawBytes += Buffer.byteLength(body);
      // Compressed after the run, so that gzip's CPU does not count against the HTTP figure.
      if (pages % GZIP_EVERY === 1) sampled.push({ body, count });
    });
    rss.stop();
    const raw = await rawRun(pool, tenantId);
    await pool.end();
    // Alternated, so that neither side always runs on a warmer cache.
    const plainMs = await firstPageMs(server.port, token, false);
    const countedMs = await firstPageMs(server.port, token, true);
    const plainAgainMs = await firstPageMs(server.port, token, false);

    const rate = (run: Run) => Math.round(run.changes / run.seconds);
    console.log('');
    console.log(`catch-up over HTTP (POST /api/sync/down, limit ${LIMIT}, ${pages} pages)`);
    console.log(`  changes          ${http.changes.toLocaleString('en')} in ${http.seconds.toFixed(2)} s`);
    console.log(`  throughput       ${rate(http).toLocaleString('en')} changes/s   (target >= 50,000)`);
    console.log(
      `  raw floor        ${rate(raw).toLocaleString('en')} changes/s   (bare keyset SELECT with pg, same rows)`,
    );
    console.log(`  vs floor         ${(rate(http) / rate(raw)).toFixed(2)}x`);
    console.log(`  bytes/change     ${(rawBytes / http.changes).toFixed(1)} raw (uncompressed JSON)`);
    for (const level of [1, 6]) console.log(`                   ${gzipFigures(sampled, level)}`);
    console.log(`  server RSS       ${mb(startRssKb)} idle before paging; peak per tenth of the pages:`);
    console.log(`                   ${rssByTenth(rss.samples, pageMarks).map(mb).join(', ')}`);
    console.log(
      `                   overall peak ${mb(peak(rss.samples))} (${rss.samples.length} samples, every 100 ms)`,
    );
    const without = (plainMs + plainAgainMs) / 2;
    console.log(
      `  first page       ${countedMs.toFixed(1)} ms with countRemaining (counts ${EVENTS.toLocaleString('en')}) vs ` +
        `${without.toFixed(1)} ms without, same run: +${(countedMs - without).toFixed(1)} ms, asked once per catch-up`,
    );
    if (http.changes !== EVENTS) throw new Error(`expected ${EVENTS} changes, got ${http.changes}`);
  } finally {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await postgres.stop();
  }
}

await main();
