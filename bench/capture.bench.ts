/**
 * Capture throughput: 200 000 row changes written in 1 000-row transactions, then drained from the same
 * WAL — (a) by a bare pgoutput consumer that decodes and discards, the floor; (b) by Capture storing
 * everything into sync_events with record history off (sync rule history.enabled false); (c) the same
 * with history on (the default: each change's history entry in its own sync_events row). All run
 * against the same embedded Postgres with the same flags, each on its own slot created before the first
 * write. ROUNDS rounds alternate (a), (b) and (c) ((b) and (c) in turn first), so that a burst of load
 * from elsewhere on the machine does not decide the result; the medians are compared. The targets apply
 * to (c).
 *
 *   npx tsx bench/capture.bench.ts
 */
import { randomUUID } from 'node:crypto';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { pino } from 'pino';
import { Capture } from '../server/capture/capture.ts';
import { ensurePublication, ensureSlot } from '../server/capture/setup.ts';
import { parseSyncRules } from '../server/config/rules.ts';
import type { Pool } from '../server/db/pool.ts';
import { startBenchPostgres } from './support/postgres.ts';
import { ownCpuSeconds, percentile, postgresCpuSeconds, sortedOf } from './ws-support.ts';

const TOTAL_ROWS = 200_000;
const ROWS_PER_TXN = 1_000;
const TENANTS = 5;
/** Five times the PowerSync service's best figure on a machine like this one (5.5–8.5k rows/s). */
const TARGET_RATE = 5 * 8_500;
const TARGET_RATIO = 0.25;
const ROUNDS = 5;

const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });

interface Tenant {
  id: string;
  classId: string;
  students: string[];
  teachers: string[];
}

async function seed(pool: Pool): Promise<Tenant[]> {
  const tenants: Tenant[] = [];
  for (let t = 0; t < TENANTS; t++) {
    const [id, level, year, classId] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, $2)`, [id, `School ${t}`]);
    await pool.query(`INSERT INTO school_levels (tenant_id, id, name, rank) VALUES ($1, $2, 'L', 1)`, [
      id,
      level,
    ]);
    await pool.query(
      `INSERT INTO academic_years (tenant_id, id, label, start_date, end_date) VALUES ($1, $2, 'Y', '2024-09-01', '2025-06-30')`,
      [id, year],
    );
    await pool.query(
      `INSERT INTO classes (tenant_id, id, name, school_level_id, academic_year_id) VALUES ($1, $2, 'C', $3, $4)`,
      [id, classId, level, year],
    );
    tenants.push({ id, classId, students: [], teachers: [] });
  }
  return tenants;
}

/** One 1 000-row transaction; the kind rotates over inserts and updates of four entity types. */
async function writeTransaction(pool: Pool, n: number, tenant: Tenant): Promise<void> {
  const rows = await writeRows(pool, n % 5, tenant);
  if (rows !== ROWS_PER_TXN) throw new Error(`transaction ${n} changed ${rows} rows, not ${ROWS_PER_TXN}`);
}

async function writeRows(pool: Pool, kind: number, tenant: Tenant): Promise<number> {
  const last = (ids: string[]): string[] => ids.slice(-ROWS_PER_TXN);
  if (kind === 0 || (kind === 2 && tenant.students.length < ROWS_PER_TXN)) {
    const r = await pool.query<{ id: string }>(
      `INSERT INTO students (tenant_id, id, first_name, last_name, birth_date, class_id)
       SELECT $1, gen_random_uuid(), 'First' || g, 'Last' || g, date '2010-01-01' + g % 3000, $2
         FROM generate_series(1, $3) g RETURNING id`,
      [tenant.id, tenant.classId, ROWS_PER_TXN],
    );
    tenant.students.push(...r.rows.map((row) => row.id));
    return r.rowCount ?? 0;
  }
  if (kind === 1 || (kind === 4 && tenant.teachers.length < ROWS_PER_TXN)) {
    const r = await pool.query<{ id: string }>(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name, email)
       SELECT $1, gen_random_uuid(), 'T' || g, 'Teacher', 't' || g || '@school.example'
         FROM generate_series(1, $2) g RETURNING id`,
      [tenant.id, ROWS_PER_TXN],
    );
    tenant.teachers.push(...r.rows.map((row) => row.id));
    return r.rowCount ?? 0;
  }
  const statements: Record<number, [string, string[]]> = {
    2: [
      `UPDATE students SET last_name = last_name || '*' WHERE tenant_id = $1 AND id = ANY($2)`,
      last(tenant.students),
    ],
    3: [
      `INSERT INTO payments (tenant_id, id, student_id, amount_cents, currency, paid_at, method)
       SELECT $1, gen_random_uuid(), s, 15000 + length(s::text), 'EUR', now(), 'transfer' FROM unnest($2::uuid[]) s`,
      last(tenant.students),
    ],
    4: [
      `UPDATE teachers SET email = upper(email) WHERE tenant_id = $1 AND id = ANY($2)`,
      last(tenant.teachers),
    ],
  };
  const [sql, ids] = statements[kind]!;
  const r = await pool.query(sql, [tenant.id, ids]);
  return r.rowCount ?? 0;
}

/** (a) Decode and discard: the library's own parsers, no flow control, one acknowledgement at the end. */
async function bareConsumer(connectionString: string, slot: string, publication: string): Promise<number> {
  const service = new LogicalReplicationService(
    { connectionString },
    { acknowledge: { auto: false, timeoutSeconds: 0 } },
  );
  let rows = 0;
  const started = performance.now();
  const done = new Promise<void>((resolve, reject) => {
    service.on('data', (lsn: string, message: Pgoutput.Message) => {
      if (message.tag === 'insert' || message.tag === 'update' || message.tag === 'delete') rows++;
      if (message.tag === 'commit' && rows >= TOTAL_ROWS) {
        void service.acknowledge(lsn).then(() => resolve());
      }
    });
    service.on('error', reject);
  });
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication], messages: true });
  service.subscribe(plugin, slot).catch(() => undefined);
  await done;
  const seconds = (performance.now() - started) / 1000;
  await service.destroy();
  return seconds;
}

/** (b) Capture storing everything into sync_events. */
async function capture(
  connectionString: string,
  pool: Pool,
  slot: string,
  publication: string,
  history: boolean,
): Promise<number> {
  const rules = parseSyncRules({
    capture: { slotName: slot, publicationName: publication },
    history: { enabled: history },
  });
  let stored = 0;
  let finish = (): void => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const service = new Capture(log, {
    connectionString,
    pool,
    rules,
    onStored: ({ lastEventId }) => {
      stored = lastEventId;
      if (stored >= TOTAL_ROWS) finish();
    },
  });
  const started = performance.now();
  const running = service.run();
  await done;
  const seconds = (performance.now() - started) / 1000;
  await service.stop();
  await running;
  return seconds;
}

async function main(): Promise<void> {
  // The test cluster's flags; they apply to the whole cluster, so to both measurements alike.
  const postgres = await startBenchPostgres({
    name: 'bench-capture',
    flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    poolMax: 8,
    log,
  });
  const { url, pool } = postgres;
  try {
    const publication = 'sync_pub';
    await ensurePublication(pool, { capture: parseSyncRules({}).capture });
    const tenants = await seed(pool);
    // Every slot exists before the first write, so each consumer sees exactly the same changes.
    for (let round = 0; round < ROUNDS; round++) {
      await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [`bench_bare_${round}`]);
      await ensureSlot(pool, `bench_nohistory_${round}`);
      await ensureSlot(pool, `bench_capture_${round}`);
    }

    const writeStarted = performance.now();
    for (let n = 0; n < TOTAL_ROWS / ROWS_PER_TXN; n++) {
      // Kinds rotate fastest, tenants next: every tenant sees every kind.
      await writeTransaction(pool, n, tenants[Math.floor(n / 5) % TENANTS]!);
    }
    const writeSeconds = (performance.now() - writeStarted) / 1000;
    const wal = await pool.query<{ size: string }>(
      `SELECT pg_size_pretty(pg_current_wal_lsn() - restart_lsn) AS size FROM pg_replication_slots WHERE slot_name = 'bench_bare_0'`,
    );
    console.log(
      `capture benchmark: ${TOTAL_ROWS} row changes in ${ROWS_PER_TXN}-row transactions, ${TENANTS} tenants`,
    );
    console.log(`  written in ${writeSeconds.toFixed(2)} s (${wal.rows[0]?.size ?? '?'} of WAL)`);

    const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(9);
    const bareRates: number[] = [];
    const plainRates: number[] = [];
    const captureRates: number[] = [];
    /** One Capture run from an empty log; returns its rate and where its time went. */
    const measure = async (slot: string, history: boolean): Promise<{ rate: number; cpu: string }> => {
      await pool.query('TRUNCATE sync_events, sync_history RESTART IDENTITY');
      const cpuBefore = { own: ownCpuSeconds(), pg: postgresCpuSeconds(postgres.dataDir) };
      const seconds = await capture(url, pool, slot, publication, history);
      // Where the time goes: decoding and building rows here, or storing them in Postgres.
      const own = (ownCpuSeconds() - cpuBefore.own) / seconds;
      const pg = (postgresCpuSeconds(postgres.dataDir) - cpuBefore.pg) / seconds;
      const count = await pool.query<{ events: number; history: number }>(
        'SELECT (SELECT count(*)::int FROM sync_events) AS events, (SELECT count(*)::int FROM sync_record_history) AS history',
      );
      const stored = count.rows[0]!;
      if (stored.events !== TOTAL_ROWS) throw new Error(`sync_events holds ${stored.events} rows`);
      if (stored.history !== (history ? TOTAL_ROWS : 0))
        throw new Error(`sync_record_history holds ${stored.history} entries`);
      return {
        rate: TOTAL_ROWS / seconds,
        cpu: `capture ${Math.round(own * 100)}%, Postgres ${Math.round(pg * 100)}%`,
      };
    };
    for (let round = 0; round < ROUNDS; round++) {
      const bareRate = TOTAL_ROWS / (await bareConsumer(url, `bench_bare_${round}`, publication));
      // Which of (b) and (c) goes first alternates, so neither always meets a cache the other warmed.
      let plain: { rate: number; cpu: string };
      let withHistory: { rate: number; cpu: string };
      if (round % 2 === 0) {
        plain = await measure(`bench_nohistory_${round}`, false);
        withHistory = await measure(`bench_capture_${round}`, true);
      } else {
        withHistory = await measure(`bench_capture_${round}`, true);
        plain = await measure(`bench_nohistory_${round}`, false);
      }
      bareRates.push(bareRate);
      plainRates.push(plain.rate);
      captureRates.push(withHistory.rate);
      console.log(
        `  round ${round + 1}: (a) bare ${fmt(bareRate)} rows/s   (b) no history ${fmt(plain.rate)} rows/s` +
          `   (c) history ${fmt(withHistory.rate)} rows/s   ${(withHistory.rate / bareRate).toFixed(2)}x` +
          `   CPU (b) ${plain.cpu}; (c) ${withHistory.cpu}`,
      );
    }

    const bare = percentile(sortedOf(bareRates), 50);
    const plain = percentile(sortedOf(plainRates), 50);
    const stored = percentile(sortedOf(captureRates), 50);
    const ratio = stored / bare;
    console.log(`  median (a) bare pgoutput  ${fmt(bare)} rows/s   decode and discard`);
    console.log(`  median (b) no history     ${fmt(plain)} rows/s   stored in sync_events`);
    console.log(`  median (c) Capture        ${fmt(stored)} rows/s   stored in sync_events with history`);
    console.log(`  ratio (c)/(a)             ${ratio.toFixed(2)}x   (c)/(b) ${(stored / plain).toFixed(2)}x`);
    const meets = stored >= TARGET_RATE && ratio >= TARGET_RATIO;
    console.log(
      `  target (c)                >= ${TARGET_RATE} rows/s and >= ${TARGET_RATIO}x: ${meets ? 'MET' : 'NOT MET'}`,
    );
    process.exitCode = meets ? 0 : 1;
  } finally {
    await postgres.stop();
  }
}

await main();
