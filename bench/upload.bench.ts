/**
 * Upload benchmark (issue 3): one 10 000-event batch through POST /api/sync/up, beside
 *   (a) the same kind of 10 000 events sent one per request, and
 *   (b) a bare multi-row INSERT/UPDATE of the same rows in one transaction (the floor),
 * all measured in this run against the same embedded Postgres.
 *
 *   npx tsx bench/upload.bench.ts [--events 10000]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { OutboxEvent } from '../shared/protocol.ts';
import { signToken } from '../server/auth/tokens.ts';
import { parseSyncRules } from '../server/config/rules.ts';
import type { Pool } from '../server/db/pool.ts';
import { buildApp } from '../server/http/app.ts';
import { startBenchPostgres } from './support/postgres.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000' },
    'batch-only': { type: 'boolean', default: false },
  },
});
const EVENTS = Number(values.events);
const SECRET = 'bench-secret-bench-secret-bench-secret-00';

interface Fixture {
  tenantId: string;
  token: string;
  events: OutboxEvent[];
}

/** A tenant with classes and existing students, and a batch of creates and updates over several types. */
async function fixture(pool: Pool): Promise<Fixture> {
  const tenantId = randomUUID();
  await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Bench school')`, [tenantId]);
  const year = randomUUID();
  const level = randomUUID();
  await pool.query(
    `INSERT INTO academic_years (tenant_id, id, label, start_date, end_date) VALUES ($1, $2, '2026', '2026-09-01', '2027-07-01')`,
    [tenantId, year],
  );
  await pool.query(`INSERT INTO school_levels (tenant_id, id, name, rank) VALUES ($1, $2, 'L', 1)`, [
    tenantId,
    level,
  ]);
  const classes = Array.from({ length: 20 }, () => randomUUID());
  await pool.query(
    `INSERT INTO classes (tenant_id, id, name, school_level_id, academic_year_id)
     SELECT $1, c, 'Class', $2, $3 FROM unnest($4::uuid[]) c`,
    [tenantId, level, year, classes],
  );
  const updates = Math.floor(EVENTS * 0.2);
  const existing = await pool.query<{ id: string; server_version: number }>(
    `INSERT INTO students (tenant_id, id, first_name, last_name, class_id)
     SELECT $1, gen_random_uuid(), 'Old', 'Student', $2 FROM generate_series(1, $3) RETURNING id, server_version`,
    [tenantId, classes[0], updates],
  );
  const base = { tenantId, createdAt: new Date().toISOString(), attemptCount: 0 };
  const events: OutboxEvent[] = [];
  const students: string[] = [];
  const creates = EVENTS - updates;
  for (let i = 0; i < creates; i++) {
    const entityId = randomUUID();
    const kind = i % 5;
    if (kind <= 2) {
      students.push(entityId);
      events.push({
        ...base,
        id: randomUUID(),
        entityType: 'STUDENT',
        entityId,
        operation: 'CREATE',
        localVersion: 0,
        payload: {
          firstName: `First${i}`,
          lastName: `Last${i}`,
          birthDate: '2015-04-12',
          classId: classes[i % 20],
        },
      });
    } else if (kind === 3) {
      events.push({
        ...base,
        id: randomUUID(),
        entityType: 'TEACHER',
        entityId,
        operation: 'CREATE',
        localVersion: 0,
        payload: { firstName: `T${i}`, lastName: 'Teacher', email: `t${i}@school.example` },
      });
    } else {
      events.push({
        ...base,
        id: randomUUID(),
        entityType: 'PAYMENT',
        entityId,
        operation: 'CREATE',
        localVersion: 0,
        payload: {
          studentId: students[students.length - 1],
          amountCents: 1500 + i,
          currency: 'XOF',
          paidAt: new Date().toISOString(),
          method: 'CASH',
        },
      });
    }
  }
  for (const row of existing.rows) {
    events.push({
      ...base,
      id: randomUUID(),
      entityType: 'STUDENT',
      entityId: row.id,
      operation: 'UPDATE',
      localVersion: row.server_version,
      payload: { lastName: 'Updated' },
    });
  }
  return { tenantId, token: await signToken(SECRET, { sub: 'bench', tenantId, role: 'desk' }, 3600), events };
}

async function post(url: string, token: string, events: OutboxEvent[]): Promise<{ acknowledged: unknown[] }> {
  const response = await fetch(`${url}/api/sync/up`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ clientId: 'bench', events }),
  });
  if (response.status !== 200) throw new Error(`upload failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { acknowledged: unknown[] };
}

/** The floor: the same rows written with one multi-row statement per table and kind, in one transaction. */
async function bareWrite(pool: Pool, f: Fixture): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const rowsOf = (type: string, op: string) =>
      JSON.stringify(
        f.events
          .filter((e) => e.entityType === type && e.operation === op)
          .map((e) => ({
            ...Object.fromEntries(
              Object.entries(e.payload).map(([k, v]) => [
                k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
                v,
              ]),
            ),
            tenant_id: f.tenantId,
            id: e.entityId,
          })),
      );
    await client.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, birth_date, class_id)
       SELECT tenant_id, id, first_name, last_name, birth_date, class_id FROM jsonb_populate_recordset(NULL::students, $1)`,
      [rowsOf('STUDENT', 'CREATE')],
    );
    await client.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name, email)
       SELECT tenant_id, id, first_name, last_name, email FROM jsonb_populate_recordset(NULL::teachers, $1)`,
      [rowsOf('TEACHER', 'CREATE')],
    );
    await client.query(
      `INSERT INTO payments (tenant_id, id, student_id, amount_cents, currency, paid_at, method)
       SELECT tenant_id, id, student_id, amount_cents, currency, paid_at, method FROM jsonb_populate_recordset(NULL::payments, $1)`,
      [rowsOf('PAYMENT', 'CREATE')],
    );
    await client.query(
      `UPDATE students s SET last_name = r.last_name FROM jsonb_populate_recordset(NULL::students, $1) r
        WHERE s.tenant_id = r.tenant_id AND s.id = r.id`,
      [rowsOf('STUDENT', 'UPDATE')],
    );
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

async function main(): Promise<void> {
  const log = pino({ level: 'warn' });
  const postgres = await startBenchPostgres({ name: 'bench-upload', poolMax: 10, log });
  const { pool } = postgres;
  try {
    // The floor sends 10 000 single-event requests in a tight loop with one token: far past what a desk
    // does, so past the default requestsPerMinute too.
    const rules = parseSyncRules({
      limits: { uploadMaxEvents: EVENTS, uploadMaxBytes: 64 * 1024 * 1024, requestsPerMinute: 10_000_000 },
    });
    const app = await buildApp(log, { pool, rules, jwtSecret: SECRET });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (address === null || typeof address !== 'object') throw new Error('no port');
    const url = `http://127.0.0.1:${address.port}`;

    // Warm-up: a small batch so JIT and connection set-up are not measured.
    const warm = await fixture(pool);
    await post(url, warm.token, warm.events.slice(0, 200));

    const batch = await fixture(pool);
    const t0 = performance.now();
    const answer = await post(url, batch.token, batch.events);
    const batchMs = performance.now() - t0;
    if (answer.acknowledged.length !== EVENTS)
      throw new Error(`only ${answer.acknowledged.length} acknowledged`);
    // The server's own time for the request (from parsing to the answer), as sync_log records it.
    const logged = await pool.query<{ duration_ms: number }>(
      `SELECT duration_ms FROM sync_log WHERE direction = 'UP' ORDER BY id DESC LIMIT 1`,
    );
    const serverMs = logged.rows[0]?.duration_ms ?? NaN;

    if (values['batch-only']) {
      console.log(`  one batch through /api/sync/up : ${batchMs.toFixed(0)} ms`);
      await app.close();
      return;
    }
    const single = await fixture(pool);
    const t1 = performance.now();
    for (const event of single.events) await post(url, single.token, [event]);
    const singleMs = performance.now() - t1;

    const bare = await fixture(pool);
    const t2 = performance.now();
    await bareWrite(pool, bare);
    const bareMs = performance.now() - t2;

    const rate = (ms: number) => Math.round((EVENTS / ms) * 1000);
    console.log(
      `upload of ${EVENTS} events (80% creates: 3/5 STUDENT, 1/5 TEACHER, 1/5 PAYMENT; 20% STUDENT updates)`,
    );
    console.log(
      `  one batch through /api/sync/up : ${batchMs.toFixed(0)} ms  (${rate(batchMs)} events/s)   target <= 1000 ms`,
    );
    console.log(
      `    of which the server (sync_log): ${serverMs} ms; the rest is the client building and sending it`,
    );
    console.log(
      `  (a) one event per request       : ${singleMs.toFixed(0)} ms  (${rate(singleMs)} events/s)   batch is ${(singleMs / batchMs).toFixed(1)}x faster, target >= 20x`,
    );
    console.log(
      `  (b) bare multi-row INSERT/UPDATE: ${bareMs.toFixed(0)} ms  (${rate(bareMs)} rows/s)   batch is ${(batchMs / bareMs).toFixed(2)}x the floor, target <= 3x`,
    );
    await app.close();
  } finally {
    await postgres.stop();
  }
}

await main();
