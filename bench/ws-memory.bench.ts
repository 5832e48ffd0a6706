/**
 * Memory per idle desk: RSS of the server node (a child process, nothing else in it) before and after
 * 10 000 desks connect, say hello and go live, divided by the desks; beside the raw floor, a bare `ws`
 * server holding the same number of idle connections, measured in the same run. Both after a full GC.
 * Target ≤ 8 KB per desk.
 *
 *   npx tsx bench/ws-memory.bench.ts [--desks 10000] [--tenants 100]
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { signToken } from '../server/auth/tokens.ts';
import {
  BenchNode,
  JWT_SECRET,
  numberArg,
  openDesk,
  openMany,
  ownCpuSeconds,
  startBenchDatabase,
  waitUntil,
} from './ws-support.ts';

const DESKS = numberArg('--desks', 10_000);
const TENANTS = numberArg('--tenants', 100);
const BARE = fileURLToPath(new URL('./ws-bare-server.ts', import.meta.url));

function kb(value: number): string {
  return `${value.toFixed(2)} KB`;
}

/**
 * RSS per connection after `open` connected them, both measured after a full GC, divided by the
 * connections the server reports. A connection refused even after retries (a loaded machine) is left out.
 */
async function perConnection(
  node: BenchNode,
  open: () => Promise<(WebSocket | null)[]>,
  held: () => number,
): Promise<{ perDesk: number; before: number; after: number; sockets: WebSocket[]; held: number }> {
  const before = await node.collect();
  const sockets = (await open()).filter((ws) => ws !== null);
  await waitUntil(() => held() === sockets.length, 30_000, 'every connection held').catch(() =>
    console.log(`  (the server holds ${held()} of the ${sockets.length} connections opened)`),
  );
  await new Promise((r) => setTimeout(r, 1000));
  const after = await node.collect();
  return { perDesk: (after - before) / held(), before, after, sockets, held: held() };
}

const orNull = <T>(opening: Promise<T>): Promise<T | null> => opening.catch(() => null);

async function connectBare(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

async function main(): Promise<void> {
  console.log(`memory per idle desk: ${DESKS} desks in ${TENANTS} tenants`);
  const db = await startBenchDatabase();
  const cpuStart = ownCpuSeconds();
  const started = performance.now();
  try {
    // The floor: a bare ws server, same number of idle connections.
    const bare = await BenchNode.start(db.url, { script: BARE, nodeArgs: ['--expose-gc'] });
    console.log(`  bare ws server on port ${bare.port}`);
    const bareRun = await perConnection(
      bare,
      () => openMany(DESKS, 250, () => orNull(connectBare(bare.port))),
      () => (bare.status as unknown as { connections: number }).connections,
    ).finally(() => bare.stop());
    for (const ws of bareRun.sockets) ws.terminate();

    const tenantIds = Array.from({ length: TENANTS }, () => randomUUID());
    for (const [i, id] of tenantIds.entries()) {
      await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, $2)`, [id, `School ${i}`]);
    }
    const tokens = await Promise.all(
      tenantIds.map((tenantId) => signToken(JWT_SECRET, { sub: 'bench', tenantId, role: 'desk' }, 7200)),
    );
    const node = await BenchNode.start(db.url, { nodeArgs: ['--expose-gc'] });
    console.log(`  server node on port ${node.port}`);
    try {
      // Warm up: a few desks come and go, so that the baseline has every code path loaded.
      const warm = await openMany(200, 100, (d) =>
        openDesk(node.wsUrl, tokens[d % TENANTS]!, `w${d}`, () => {}),
      );
      await waitUntil(() => node.status?.desks.byState.live === 200, 30_000, 'warm-up desks live');
      for (const ws of warm) ws.terminate();
      await waitUntil(() => node.status?.desks.connections === 0, 30_000, 'warm-up desks gone');
      const run = await perConnection(
        node,
        () =>
          openMany(DESKS, 250, (d) =>
            orNull(openDesk(node.wsUrl, tokens[d % TENANTS]!, `desk-${d}`, () => {})),
          ),
        () => node.status?.desks.byState.live ?? 0,
      );
      const wall = (performance.now() - started) / 1000;
      console.log('');
      console.log(
        `  server node      ${kb(run.perDesk)} RSS per idle live desk   (${(run.before / 1024).toFixed(1)} → ${(run.after / 1024).toFixed(1)} MB; target ≤ 8 KB)`,
      );
      console.log(
        `  raw floor        ${kb(bareRun.perDesk)} RSS per idle connection of a bare ws server   (${(bareRun.before / 1024).toFixed(1)} → ${(bareRun.after / 1024).toFixed(1)} MB)`,
      );
      const extra = run.perDesk - bareRun.perDesk;
      if (run.held + bareRun.held < 2 * DESKS) {
        console.log(
          `  held             ${run.held} desks, ${bareRun.held} bare connections (the rest left out)`,
        );
      }
      console.log(`  vs floor         ${extra >= 0 ? '+' : '−'}${kb(Math.abs(extra))} per desk`);
      console.log(
        `  load generator   ${(((ownCpuSeconds() - cpuStart) / wall) * 100).toFixed(0)}% of a core over ${wall.toFixed(0)} s`,
      );
      for (const ws of run.sockets) ws.terminate();
    } finally {
      await node.stop();
    }
  } finally {
    await db.stop();
  }
}

await main();
