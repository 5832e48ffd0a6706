/**
 * A server node with live push in its own process, for tests and benchmarks that measure it alone or kill
 * it: `node --import tsx test/support/ws-node.ts`. Environment:
 *   NODE_DATABASE_URL (required), NODE_JWT_SECRET (default: the tests' secret),
 *   NODE_RULES (sync rules as JSON), NODE_SOCKET (DeskSocketOptions as JSON),
 *   NODE_CAPTURE=1 to run capture too (leader or standby; publication and slot must exist),
 *   NODE_IDENTITY (capture identity), NODE_STATUS_MS (default 200).
 * Prints one JSON status line (NodeStatus) every NODE_STATUS_MS; the first one once listening.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { Capture } from '../../server/capture/capture.ts';
import { parseSyncRules } from '../../server/config/rules.ts';
import { createPool } from '../../server/db/pool.ts';
import { TenantHub } from '../../server/fanout/tenant-hub.ts';
import { buildApp } from '../../server/http/app.ts';
import { TEST_JWT_SECRET } from './http.ts';

export interface NodeStatus {
  port: number;
  pid: number;
  rssKb: number;
  leader: boolean;
  hub: TenantHub['stats'];
  desks: NonNullable<ReturnType<typeof statsOf>>;
}

function statsOf(app: Awaited<ReturnType<typeof buildApp>>) {
  return app.deskSockets?.stats ?? null;
}

// Benchmarks measure memory after a full GC (node --expose-gc); installed before the first status line,
// since a benchmark may signal as soon as it reads it.
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());

const url = process.env.NODE_DATABASE_URL;
if (url === undefined || url === '') throw new Error('NODE_DATABASE_URL is required');
const rules = parseSyncRules(JSON.parse(process.env.NODE_RULES ?? '{}'));
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }, pino.destination(2));
const pool = createPool(url, { max: 8, application: 'ws-node' });
const identity = process.env.NODE_IDENTITY;
const hub = new TenantHub(log.child({ component: 'fanout' }), {
  connectionString: url,
  pool,
  rules,
  ...(identity === undefined ? {} : { captureIdentity: identity }),
});
const hubDone = hub.run();
await hub.listening;
const capture =
  process.env.NODE_CAPTURE === '1'
    ? new Capture(log.child({ component: 'capture' }), {
        connectionString: url,
        pool,
        rules,
        ...(identity === undefined ? {} : { identity }),
        onStored: (stored) => hub.handOff(stored),
      })
    : null;
const captureDone = capture?.run();
const app = await buildApp(log, {
  pool,
  rules,
  jwtSecret: process.env.NODE_JWT_SECRET ?? TEST_JWT_SECRET,
  push: { hub, options: JSON.parse(process.env.NODE_SOCKET ?? '{}') as Record<string, number> },
});
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
const port = address !== null && typeof address === 'object' ? address.port : 0;

function rssKb(): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match?.[1] ?? 0);
}

const report = (): void => {
  const desks = statsOf(app);
  if (desks === null) return;
  const status: NodeStatus = {
    port,
    pid: process.pid,
    rssKb: rssKb(),
    leader: capture?.status.leader ?? false,
    hub: hub.stats,
    desks,
  };
  process.stdout.write(`${JSON.stringify(status)}\n`);
};
report();
const timer = setInterval(report, Number(process.env.NODE_STATUS_MS ?? 200));

process.once('SIGTERM', () => {
  clearInterval(timer);
  void (async () => {
    await app.close();
    await capture?.stop();
    await captureDone;
    await hub.stop();
    await hubDone;
    await pool.end();
    process.exit(0);
  })();
});
