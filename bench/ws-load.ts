/**
 * The push load both latency benchmarks run: `desks` sockets over `tenants` tenants on one server node
 * (child process, running capture), while plain-SQL INSERTs into `students` commit at `rate` per second,
 * each in its own transaction, for `seconds`. Every change's first name carries its sequence number, so a
 * desk's receipt is matched to the moment its INSERT was sent (commit → receipt, through WAL, capture,
 * NOTIFY, the hub and the socket). Beside it, in the same run and under the same load, the raw floor: a
 * bare LISTEN/NOTIFY round trip between two pg connections of this process (NOTIFY sent → received).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import type WebSocket from 'ws';
import { signToken } from '../server/auth/tokens.ts';
import { createPool } from '../server/db/pool.ts';
import {
  BenchNode,
  JWT_SECRET,
  ms,
  openDesk,
  openMany,
  ownCpuSeconds,
  percentile,
  postgresCpuSeconds,
  sortedOf,
  startBenchDatabase,
  waitUntil,
} from './ws-support.ts';

export interface LoadParams {
  desks: number;
  tenants: number;
  rate: number;
  seconds: number;
  /** Bare NOTIFY round trips per second measured alongside. */
  floorRate: number;
  targets: { p50Ms?: number; p99Ms: number; p99VsFloor?: number };
}

const NAME = /"firstName": ?"s(\d+)"/g;
const TICK_MS = 5;

export async function runLoad(params: LoadParams): Promise<void> {
  const { desks, tenants, rate, seconds } = params;
  console.log(
    `push latency: ${desks} desks in ${tenants} tenants, ${rate} changes/s for ${seconds} s (plain-SQL INSERTs, real capture)`,
  );
  const db = await startBenchDatabase();
  let node: BenchNode | null = null;
  const sockets: WebSocket[] = [];
  try {
    const tenantIds = Array.from({ length: tenants }, () => randomUUID());
    for (const [i, id] of tenantIds.entries()) {
      await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, $2)`, [id, `School ${i}`]);
    }
    node = await BenchNode.start(db.url, { capture: true });
    await waitUntil(() => node!.status?.leader === true, 30_000, 'capture leadership');
    const running = node;

    // seq → send time and tenant; per desk, the sequence numbers it received in order.
    const total = rate * seconds;
    const sentAt = new Float64Array(total);
    const sentWall = new Float64Array(total);
    const tenantOf = new Uint32Array(total);
    const received: number[][] = Array.from({ length: desks }, () => []);
    const latencies: number[] = [];
    const latencySeqs: number[] = [];
    const tokens = await Promise.all(
      tenantIds.map((tenantId) => signToken(JWT_SECRET, { sub: 'bench', tenantId, role: 'desk' }, 7200)),
    );
    const opened = await openMany(desks, 200, (d) =>
      openDesk(running.wsUrl, tokens[d % tenants]!, `desk-${d}`, (data) => {
        const now = performance.now();
        const text = data.toString('latin1');
        for (const match of text.matchAll(NAME)) {
          const seq = Number(match[1]);
          received[d]!.push(seq);
          latencies.push(now - sentAt[seq]!);
          latencySeqs.push(seq);
        }
      }),
    );
    sockets.push(...opened);
    await waitUntil(() => running.status?.desks.byState.live === desks, 60_000, 'every desk live');
    console.log(`  ${desks} desks live`);

    // The raw floor of this path: the same INSERTs as a bare pgoutput client of its own slot receives them
    // (WAL → walsender → decode), before anything is stored, notified or pushed.
    await db.pool.query(`SELECT pg_create_logical_replication_slot('bench_floor', 'pgoutput')`);
    const replicated: number[] = [];
    const bareReplication = new LogicalReplicationService(
      { connectionString: db.url },
      { acknowledge: { auto: true, timeoutSeconds: 1 } },
    );
    bareReplication.on('data', (_lsn: string, message: Pgoutput.Message) => {
      if (message.tag !== 'insert' || message.relation.name !== 'students') return;
      const name = (message.new as { first_name?: unknown }).first_name;
      if (typeof name === 'string' && name.startsWith('s'))
        replicated.push(performance.now() - sentAt[Number(name.slice(1))]!);
    });
    const replicating = new Promise<void>((resolve) => bareReplication.once('start', () => resolve()));
    bareReplication
      .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: ['sync_pub'] }), 'bench_floor')
      .catch(() => undefined);
    await replicating;

    // Another floor, for scale: NOTIFY on one connection, LISTEN on another, same process, same load.
    const listener = new pg.Client({ connectionString: db.url });
    const notifier = new pg.Client({ connectionString: db.url });
    await listener.connect();
    await notifier.connect();
    const floorSent = new Map<string, number>();
    const floor: number[] = [];
    listener.on('notification', (n) => {
      const at = floorSent.get(n.payload ?? '');
      if (at !== undefined) floor.push(performance.now() - at);
    });
    await listener.query('LISTEN bench_floor');
    let floorSeq = 0;
    const floorTimer = setInterval(() => {
      const key = String(floorSeq++);
      floorSent.set(key, performance.now());
      void notifier.query(`SELECT pg_notify('bench_floor', $1)`, [key]);
    }, 1000 / params.floorRate);

    const writer = createPool(db.url, { max: 6, application: 'bench-writer' });
    const cpu = { own: ownCpuSeconds(), node: running.cpuSeconds(), pg: postgresCpuSeconds(db.dataDir) };
    const started = performance.now();
    let seq = 0;
    let errors = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (seq < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
      for (; seq < due; seq++) {
        const s = seq;
        const tenant = s % tenants;
        tenantOf[s] = tenant;
        sentAt[s] = performance.now();
        sentWall[s] = performance.timeOrigin + sentAt[s];
        const write = writer
          .query(`INSERT INTO students (tenant_id, id, first_name, last_name) VALUES ($1, $2, $3, 'Bench')`, [
            tenantIds[tenant],
            randomUUID(),
            `s${s}`,
          ])
          .catch(() => {
            errors++;
          });
        inFlight.add(write);
        void write.finally(() => inFlight.delete(write));
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    await Promise.all(inFlight);
    const writeSeconds = (performance.now() - started) / 1000;
    const expected = (d: number): number => Math.floor((total - (d % tenants) + tenants - 1) / tenants);
    await waitUntil(
      () => received.every((r, d) => r.length >= expected(d)),
      30_000,
      'every change at every desk',
    ).catch((error: unknown) => console.log(`  ${String(error)}`));
    const wall = (performance.now() - started) / 1000;
    const used = {
      own: ownCpuSeconds() - cpu.own,
      node: running.cpuSeconds() - cpu.node,
      pg: postgresCpuSeconds(db.dataDir) - cpu.pg,
    };
    clearInterval(floorTimer);
    await bareReplication.destroy();
    await listener.end();
    await notifier.end();
    await writer.end();

    // Zero lost: each desk's sequence equals its tenant's log, in log order.
    const logs = new Map<number, number[]>();
    const rows = await db.pool.query<{ tenant_id: string; name: string; captured: number }>(
      `SELECT tenant_id::text, payload->>'firstName' AS name,
              extract(epoch FROM captured_at)::float8 * 1000 AS captured
         FROM sync_events ORDER BY id`,
    );
    // Where the time goes: INSERT sent → capture's storing transaction began (captured_at), and from
    // there to the desk (hub wake, read, send, socket). Both clocks are this machine's wall clock.
    const toCapture: number[] = [];
    const capturedAt = new Float64Array(total);
    for (const row of rows.rows) {
      const s = Number(row.name.slice(1));
      capturedAt[s] = row.captured;
      toCapture.push(row.captured - sentWall[s]!);
    }
    const fromCapture = latencies.map((latency, i) => {
      const s = latencySeqs[i]!;
      return sentWall[s]! + latency - capturedAt[s]!;
    });
    const index = new Map<string, number>(tenantIds.map((id, i) => [id, i]));
    for (const row of rows.rows) {
      const t = index.get(row.tenant_id)!;
      if (!logs.has(t)) logs.set(t, []);
      logs.get(t)!.push(Number(row.name.slice(1)));
    }
    let lost = 0;
    let wrongOrder = 0;
    for (const [d, got] of received.entries()) {
      const log = logs.get(d % tenants) ?? [];
      lost += Math.max(0, log.length - got.length);
      if (got.length !== log.length || got.some((s, i) => s !== log[i])) wrongOrder++;
    }
    const lat = sortedOf(latencies);
    const captureLat = sortedOf(toCapture);
    const fanoutLat = sortedOf(fromCapture);
    const bare = sortedOf(floor);
    const replication = sortedOf(replicated);
    const p99 = percentile(lat, 99);
    const replicationP99 = percentile(replication, 99);
    console.log('');
    console.log(
      `  writes           ${total} in ${writeSeconds.toFixed(1)} s (${errors} failed), log has ${rows.rowCount} events`,
    );
    console.log(
      `  receipts         ${latencies.length} (expected ${total * (desks / tenants)}); lost ${lost}; desks whose sequence differs from the log: ${wrongOrder}`,
    );
    console.log(
      `  commit → desk    p50 ${ms(percentile(lat, 50))}   p99 ${ms(p99)}   max ${ms(lat.at(-1) ?? NaN)}`,
    );
    console.log(
      `    of which       INSERT sent → capture stores it: p50 ${ms(percentile(captureLat, 50))}   p99 ${ms(percentile(captureLat, 99))}`,
    );
    console.log(
      `    and            capture's statement began → desk (store, hand over or NOTIFY + read, socket): p50 ${ms(percentile(fanoutLat, 50))}   p99 ${ms(percentile(fanoutLat, 99))}`,
    );
    console.log(
      `  floor: bare pgoutput client, INSERT sent → decoded: p50 ${ms(percentile(replication, 50))}   p99 ${ms(replicationP99)}   (${replication.length} changes, same run, same load)`,
    );
    console.log(
      `  for scale: bare LISTEN/NOTIFY round trip p50 ${ms(percentile(bare, 50))}   p99 ${ms(percentile(bare, 99))}`,
    );
    const vsFloor = p99 / replicationP99;
    const target = params.targets;
    const p50 = percentile(lat, 50);
    const wanted = [
      ...(target.p50Ms === undefined ? [] : [`p50 ≤ ${target.p50Ms} ms`]),
      `p99 ≤ ${target.p99Ms} ms`,
      ...(target.p99VsFloor === undefined ? [] : [`p99 ≤ ${target.p99VsFloor}x the floor`]),
    ];
    const met =
      lost === 0 &&
      wrongOrder === 0 &&
      (target.p50Ms === undefined || p50 <= target.p50Ms) &&
      p99 <= target.p99Ms &&
      (target.p99VsFloor === undefined || vsFloor <= target.p99VsFloor);
    console.log(
      `  over the floor   p50 +${ms(p50 - percentile(replication, 50))}   p99 ${vsFloor.toFixed(2)}x the bare pgoutput client`,
    );
    console.log(
      `  target           nothing lost, in order, ${wanted.join(', ')}: ${met ? 'MET' : 'NOT MET'}`,
    );
    if (!met) process.exitCode = 1;
    console.log(
      `  CPU over ${wall.toFixed(0)} s  load generator ${((used.own / wall) * 100).toFixed(0)}% of a core, ` +
        `server node ${((used.node / wall) * 100).toFixed(0)}%, Postgres ${((used.pg / wall) * 100).toFixed(0)}% (2 cores in all)`,
    );
    const hub = running.status?.hub;
    if (hub !== undefined) {
      console.log(
        `  hub              ${hub.reads} read statements, ${hub.tenantReads} tenant reads, ${hub.batches} batches fanned out (${hub.handedOver} handed over by capture, not read)`,
      );
    }
    console.log(`  server RSS       ${((running.status?.rssKb ?? 0) / 1024).toFixed(1)} MB`);
  } finally {
    for (const ws of sockets) ws.terminate();
    await node?.stop();
    await db.stop();
  }
}
