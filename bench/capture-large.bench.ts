/**
 * Capture of one very large source transaction (a bulk UPDATE of a whole table, as a DBA or an import
 * does): ROWS student rows changed by a single UPDATE, then drained from the same WAL by (a) a bare
 * pgoutput consumer that decodes and discards — the floor, for time and memory; (b) Capture as it runs,
 * storing the transaction in pieces of batchMaxRows. Memory is the peak RSS growth of this process over
 * its level before the run, sampled every 50 ms. (Held whole, a 1 000 000-row transaction is also more
 * than Postgres takes in one jsonb value: capture could never store it.)
 *
 *   npx tsx bench/capture-large.bench.ts [--rows 500000]
 */
import { randomUUID } from 'node:crypto';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { pino } from 'pino';
import { Capture } from '../server/capture/capture.ts';
import { ensurePublication, ensureSlot } from '../server/capture/setup.ts';
import { parseSyncRules } from '../server/config/rules.ts';
import type { Pool } from '../server/db/pool.ts';
import { startBenchPostgres } from './support/postgres.ts';
import { numberArg } from './ws-support.ts';

const ROWS = numberArg('--rows', 500_000);
/** Capture's peak memory over its start, whatever the transaction's size. */
const TARGET_PEAK_MB = 400;

const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });

interface Run {
  seconds: number;
  peakMb: number;
}

/** Runs `work` while sampling RSS; the peak growth over the level just before. */
async function measured(work: () => Promise<void>): Promise<Run> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { seconds: (performance.now() - started) / 1000, peakMb: (peak - base) / 2 ** 20 };
}

async function bareConsumer(connectionString: string, slot: string): Promise<void> {
  const service = new LogicalReplicationService(
    { connectionString },
    { acknowledge: { auto: false, timeoutSeconds: 0 } },
  );
  let rows = 0;
  const done = new Promise<void>((resolve, reject) => {
    service.on('data', (lsn: string, message: Pgoutput.Message) => {
      if (message.tag === 'update') rows++;
      if (message.tag === 'commit' && rows >= ROWS) void service.acknowledge(lsn).then(() => resolve());
    });
    service.on('error', reject);
  });
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: ['sync_pub'], messages: true });
  service.subscribe(plugin, slot).catch(() => undefined);
  await done;
  await service.destroy();
}

async function capture(
  connectionString: string,
  pool: Pool,
  slot: string,
  batchMaxRows: number,
): Promise<void> {
  await pool.query('TRUNCATE sync_events RESTART IDENTITY');
  const rules = parseSyncRules({ capture: { slotName: slot, publicationName: 'sync_pub', batchMaxRows } });
  let finish = (): void => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const service = new Capture(log, {
    connectionString,
    pool,
    rules,
    onStored: ({ lastEventId }) => {
      if (lastEventId >= ROWS) finish();
    },
  });
  const running = service.run();
  await done;
  await service.stop();
  await running;
  const count = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_events');
  if (count.rows[0]!.n !== ROWS) throw new Error(`sync_events holds ${count.rows[0]!.n} rows, not ${ROWS}`);
}

async function main(): Promise<void> {
  const postgres = await startBenchPostgres({
    name: 'bench-capture-large',
    flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    poolMax: 4,
    log,
  });
  const { url, pool } = postgres;
  try {
    await ensurePublication(pool, { capture: parseSyncRules({}).capture });
    const tenant = randomUUID();
    await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Bulk school')`, [tenant]);
    await pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, birth_date)
       SELECT $1, gen_random_uuid(), 'First' || g, 'Last' || g, date '2010-01-01' + g % 3000
         FROM generate_series(1, $2) g`,
      [tenant, ROWS],
    );
    await pool.query(`SELECT pg_create_logical_replication_slot('bench_bare', 'pgoutput')`);
    await ensureSlot(pool, 'bench_pieces');
    const written = performance.now();
    await pool.query(`UPDATE students SET last_name = last_name || ' (graduated)' WHERE tenant_id = $1`, [
      tenant,
    ]);
    const wal = await pool.query<{ size: string }>(
      `SELECT pg_size_pretty(pg_current_wal_lsn() - restart_lsn) AS size FROM pg_replication_slots WHERE slot_name = 'bench_bare'`,
    );
    console.log(`capture of one ${ROWS.toLocaleString('en-US')}-row UPDATE (one transaction)`);
    console.log(
      `  written in ${((performance.now() - written) / 1000).toFixed(1)} s (${wal.rows[0]?.size ?? '?'} of WAL)`,
    );

    const pieceRows = parseSyncRules({}).capture.batchMaxRows;
    const line = (name: string, run: Run): void =>
      console.log(
        `  ${name.padEnd(44)} ${Math.round(ROWS / run.seconds)
          .toLocaleString('en-US')
          .padStart(8)} rows/s   peak RSS +${run.peakMb.toFixed(0).padStart(4)} MB`,
      );
    const bare = await measured(() => bareConsumer(url, 'bench_bare'));
    line('(a) bare pgoutput, decode and discard', bare);
    const pieces = await measured(() => capture(url, pool, 'bench_pieces', pieceRows));
    line(`(b) Capture, pieces of ${pieceRows.toLocaleString('en-US')} rows`, pieces);
    const met = pieces.peakMb <= TARGET_PEAK_MB;
    console.log(
      `  target (b) peak RSS growth ≤ ${TARGET_PEAK_MB} MB whatever the transaction's size: ${met ? 'MET' : 'NOT MET'}` +
        `   (rate ${(bare.seconds / pieces.seconds).toFixed(2)}x the bare consumer's)`,
    );
    process.exitCode = met ? 0 : 1;
  } finally {
    await postgres.stop();
  }
}

await main();
