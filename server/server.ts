import pg from 'pg';
import type { Logger } from 'pino';
import { removeEmbeddedUrl, writeEmbeddedUrl } from './admin/embedded-url.ts';
import { Capture, defaultCaptureIdentity } from './capture/capture.ts';
import { ensurePublication } from './capture/setup.ts';
import type { Env } from './config/env.ts';
import { serverJwtSecret } from './config/jwt-secret.ts';
import type { SyncRules } from './config/rules.ts';
import { startEmbeddedPostgres } from './db/embedded.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { TenantHub } from './fanout/tenant-hub.ts';
import { buildApp } from './http/app.ts';
import { SyncMetrics } from './metrics/sync-metrics.ts';
import { Heartbeat } from './ops/heartbeat.ts';
import { RetentionService } from './ops/retention.ts';
import { SlotGuard } from './ops/slot-guard.ts';
import { prepareSlot } from './ops/slot.ts';
import { Supervisor, type Service } from './service.ts';

const EMBEDDED_DATABASE = 'school_sync';

export interface RunningServer {
  /** `http://HOST:PORT` the server listens on. */
  url: string;
  capture: Capture;
  stop(): Promise<void>;
}

/** Starts the embedded cluster under the data folder; returns the application database's URL. */
async function startEmbedded(env: Env, log: Logger, stops: (() => Promise<void>)[]): Promise<string> {
  log.info({ dataDir: env.dataDir }, 'DATABASE_URL is not set: starting the embedded Postgres');
  const handle = await startEmbeddedPostgres({
    dir: env.dataDir,
    onLog: (line) => log.debug({ postgres: line }),
  });
  stops.push(() => handle.stop());
  // Root in a folder the postgres user cannot enter: say where the programs and the cluster went instead.
  for (const note of handle.notes) log.info({ cluster: handle.dataDir }, note);
  const client = new pg.Client({ connectionString: handle.connectionString });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
  } finally {
    await client.end();
  }
  const url = handle.databaseUrl(EMBEDDED_DATABASE);
  writeEmbeddedUrl(env.dataDir, url);
  stops.push(() => Promise.resolve(removeEmbeddedUrl(env.dataDir, url)));
  return url;
}

/**
 * Start-up in one place: the JWT secret (a ConfigError before anything starts when there is none to use),
 * database, migrations, publication and slot (so every change committed from now
 * on is captured), capture (leader or standby), the operations services, then HTTP. Stops in reverse order.
 */
export async function startServer(env: Env, rules: SyncRules, log: Logger): Promise<RunningServer> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((error: unknown) => log.error({ err: error }, 'error while stopping'));
    }
  };
  // Long-running services restart when they fail; they stop together, in reverse order, where the first
  // one started stands in `stops` (after the pool, before HTTP).
  const supervisor = new Supervisor(log.child({ component: 'supervisor' }));
  const start = (service: Service): void => {
    if (!stops.includes(stopServices)) stops.push(stopServices);
    supervisor.start(service);
  };
  const stopServices = (): Promise<void> => supervisor.stop();
  const { secret: jwtSecret, source, generated } = serverJwtSecret(env);
  if (source !== 'SYNC_JWT_SECRET') {
    log.warn(
      { file: source, generated },
      'SYNC_JWT_SECRET is not set: tokens are signed with the secret kept in this file (this machine only; ' +
        'sync-admin on this data folder uses it too). Set SYNC_JWT_SECRET to serve other machines.',
    );
  }
  try {
    const databaseUrl = env.databaseUrl ?? (await startEmbedded(env, log, stops));
    const pool = createPool(databaseUrl, {
      max: 20,
      application: 'school-sync',
      onIdleError: (error) => log.warn({ err: error }, 'idle database connection lost'),
    });
    stops.push(() => pool.end());
    await migrate(pool, log.child({ component: 'migrate' }));
    await ensurePublication(pool, rules);
    await prepareSlot(pool, log.child({ component: 'slot' }), rules.capture.slotName);

    const metrics = new SyncMetrics(log.child({ component: 'metrics' }));
    // Every server node pushes to its own desks: one LISTEN and one read per woken tenant, except for the
    // batches its own capture hands over (started below, after the operations services).
    const identity = defaultCaptureIdentity();
    const hub = new TenantHub(log.child({ component: 'fanout' }), {
      connectionString: databaseUrl,
      pool,
      rules,
      captureIdentity: identity,
      onPushed: (seconds) => metrics.observePushLatency(seconds),
    });
    const capture = new Capture(log.child({ component: 'capture' }), {
      connectionString: databaseUrl,
      pool,
      rules,
      identity,
      onStored: (stored) => hub.handOff(stored),
    });
    start(capture);
    metrics.setCaptureSource(() => capture.status);
    const slotName = rules.capture.slotName;
    start(
      new SlotGuard(log.child({ component: 'slot-guard' }), {
        pool,
        slotName,
        checkSeconds: rules.ops.slotCheckSeconds,
        walWarnBytes: rules.ops.walWarnBytes,
        walCriticalBytes: rules.ops.walCriticalBytes,
        onSlotRecreated: () => capture.restartStream(),
        onWarning: (warning) => metrics.setSlotWarning(warning),
      }),
    );
    start(
      new Heartbeat(log.child({ component: 'heartbeat' }), {
        pool,
        slotName,
        intervalMs: rules.ops.heartbeatSeconds * 1000,
      }),
    );
    start(new RetentionService(log.child({ component: 'retention' }), { pool, rules }));

    start(hub);
    await hub.listening;

    const app = await buildApp(log.child({ component: 'http' }), {
      pool,
      rules,
      jwtSecret,
      captureStatus: () => capture.status,
      serviceFailures: () => supervisor.failures,
      metrics,
      push: { hub },
    });
    stops.push(() => app.close());
    await app.listen({ port: env.port, host: env.host });
    const address = app.server.address();
    const port = address !== null && typeof address === 'object' ? address.port : env.port;
    const url = `http://${env.host.includes(':') ? `[${env.host}]` : env.host}:${port}`;
    return { url, capture, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
