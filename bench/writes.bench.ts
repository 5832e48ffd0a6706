/**
 * The school's own writes (web app, scripts) on a synced entity table, beside the same table bare, in one
 * run against one embedded Postgres (wal_level=logical for both, as a server with sync installed has it):
 * a 10 000-row INSERT and an UPDATE of those 10 000 rows, each one statement in its own transaction.
 *   floor        bare_students: the columns, keys and index of `students` (the school's own), nothing else
 *   + trigger    the same with sync's BEFORE INSERT OR UPDATE trigger (server_version, updated_at)
 *   + FULL       the same with REPLICA IDENTITY FULL (an UPDATE's WAL carries the old row)
 *   synced       `students` itself: trigger, REPLICA IDENTITY FULL, in the publication, a slot kept
 * and, for scale, the bare table without its foreign keys (their checks are most of an INSERT's cost).
 * ROUNDS rounds, the tables in turn first; medians. Target (issue 14): synced ≤ 1.5× the floor, both.
 *
 *   npx tsx bench/writes.bench.ts [--rows 10000] [--rounds 7]
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { ensurePublication, ensureSlot } from '../server/capture/setup.ts';
import { parseSyncRules } from '../server/config/rules.ts';
import type { Pool } from '../server/db/pool.ts';
import { startBenchPostgres } from './support/postgres.ts';
import { numberArg } from './support/seed-events.ts';
import { percentile, sortedOf } from './ws-support.ts';

const ROWS = numberArg('--rows', 10_000);
const ROUNDS = numberArg('--rounds', 7);
const TARGET_RATIO = 1.5;
const log = pino({ level: 'warn' });

interface Variant {
  label: string;
  table: string;
}

const VARIANTS: Variant[] = [
  { label: 'floor (bare table)', table: 'bare_students' },
  { label: '+ trigger only', table: 'bare_students_trigger' },
  { label: '+ REPLICA IDENTITY FULL only', table: 'bare_students_full' },
  { label: 'synced (students)', table: 'students' },
  { label: 'for scale: bare, no foreign keys', table: 'bare_students_nofk' },
];

/**
 * Copies of `students` without what sync adds, and with each part alone: its columns, defaults, keys and
 * index (LIKE … INCLUDING, so the copies follow the schema), its foreign keys added back, and a default for
 * server_version, which no trigger sets on the bare copies.
 */
async function createTables(pool: Pool): Promise<void> {
  for (const table of [
    'bare_students',
    'bare_students_trigger',
    'bare_students_full',
    'bare_students_nofk',
  ]) {
    await pool.query(`CREATE TABLE ${table} (LIKE students INCLUDING DEFAULTS INCLUDING INDEXES)`);
    await pool.query(`ALTER TABLE ${table} ALTER COLUMN server_version SET DEFAULT 0`);
    if (table === 'bare_students_nofk') continue;
    await pool.query(`ALTER TABLE ${table} ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id),
      ADD FOREIGN KEY (tenant_id, class_id) REFERENCES classes (tenant_id, id)`);
  }
  await pool.query(`CREATE TRIGGER bare_students_trigger_version BEFORE INSERT OR UPDATE ON bare_students_trigger
    FOR EACH ROW EXECUTE FUNCTION sync_bump_server_version()`);
  await pool.query('ALTER TABLE bare_students_full REPLICA IDENTITY FULL');
}

async function seedSchool(pool: Pool): Promise<{ tenantId: string; classId: string }> {
  const [tenantId, level, year, classId] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Bench school')`, [tenantId]);
  await pool.query(`INSERT INTO school_levels (tenant_id, id, name, rank) VALUES ($1, $2, 'L', 1)`, [
    tenantId,
    level,
  ]);
  await pool.query(
    `INSERT INTO academic_years (tenant_id, id, label, start_date, end_date)
     VALUES ($1, $2, 'Y', '2025-09-01', '2026-07-03')`,
    [tenantId, year],
  );
  await pool.query(
    `INSERT INTO classes (tenant_id, id, name, school_level_id, academic_year_id) VALUES ($1, $2, 'C', $3, $4)`,
    [tenantId, classId, level, year],
  );
  return { tenantId, classId };
}

/** One INSERT of ROWS rows and one UPDATE of them, each timed as the statement's round trip. */
async function measure(
  pool: Pool,
  table: string,
  school: { tenantId: string; classId: string },
): Promise<{ insertMs: number; updateMs: number }> {
  await pool.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [school.tenantId]);
  await pool.query(`VACUUM ${table}`);
  let started = performance.now();
  const inserted = await pool.query(
    `INSERT INTO ${table} (tenant_id, id, first_name, last_name, birth_date, class_id)
     SELECT $1, gen_random_uuid(), 'First' || g, 'Last' || g, date '2014-01-01' + g % 3000, $2
       FROM generate_series(1, $3::integer) g`,
    [school.tenantId, school.classId, ROWS],
  );
  const insertMs = performance.now() - started;
  started = performance.now();
  const updated = await pool.query(`UPDATE ${table} SET last_name = last_name || '*' WHERE tenant_id = $1`, [
    school.tenantId,
  ]);
  const updateMs = performance.now() - started;
  if (inserted.rowCount !== ROWS || updated.rowCount !== ROWS) throw new Error(`${table}: rows went missing`);
  return { insertMs, updateMs };
}

async function main(): Promise<void> {
  const postgres = await startBenchPostgres({ name: 'bench-writes', poolMax: 2, log });
  const { pool } = postgres;
  try {
    const rules = parseSyncRules({});
    await ensurePublication(pool, { capture: rules.capture });
    // A slot as the server keeps one: WAL is retained for it (nobody streams here; decoding is not the
    // writer's cost).
    await ensureSlot(pool, 'bench_writes_slot');
    await createTables(pool);
    const school = await seedSchool(pool);
    const times = new Map(VARIANTS.map((v) => [v.table, { insert: [] as number[], update: [] as number[] }]));
    for (let round = 0; round < ROUNDS; round++) {
      // Each table first in turn, so none always meets a cache another warmed.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
      for (const variant of order) {
        const { insertMs, updateMs } = await measure(pool, variant.table, school);
        times.get(variant.table)!.insert.push(insertMs);
        times.get(variant.table)!.update.push(updateMs);
      }
    }
    const floor = times.get('bare_students')!;
    const floorInsert = percentile(sortedOf(floor.insert), 50);
    const floorUpdate = percentile(sortedOf(floor.update), 50);
    console.log(
      `the school's own writes: ${ROWS.toLocaleString('en')}-row INSERT, then UPDATE of those rows; ` +
        `medians of ${ROUNDS} rounds`,
    );
    for (const variant of VARIANTS) {
      const t = times.get(variant.table)!;
      const insert = percentile(sortedOf(t.insert), 50);
      const update = percentile(sortedOf(t.update), 50);
      console.log(
        `  ${variant.label.padEnd(30)} INSERT ${insert.toFixed(1).padStart(7)} ms (${(insert / floorInsert).toFixed(2)}×)` +
          `   UPDATE ${update.toFixed(1).padStart(7)} ms (${(update / floorUpdate).toFixed(2)}×)`,
      );
    }
    const synced = times.get('students')!;
    const insertRatio = percentile(sortedOf(synced.insert), 50) / floorInsert;
    const updateRatio = percentile(sortedOf(synced.update), 50) / floorUpdate;
    const met = insertRatio <= TARGET_RATIO && updateRatio <= TARGET_RATIO;
    console.log(
      `  target synced ≤ ${TARGET_RATIO}× the floor: INSERT ${insertRatio.toFixed(2)}×, UPDATE ${updateRatio.toFixed(2)}× → ${met ? 'MET' : 'NOT MET'}`,
    );
    if (!met) process.exitCode = 1;
    await pool.query(`SELECT pg_drop_replication_slot('bench_writes_slot')`);
  } finally {
    await postgres.stop();
  }
}

await main();
