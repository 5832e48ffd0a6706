import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Role } from '../../shared/protocol.ts';
import { signToken } from '../../server/auth/tokens.ts';
import { parseSyncRules, type SyncRules } from '../../server/config/rules.ts';
import { TenantHub, type TenantHubOptions } from '../../server/fanout/tenant-hub.ts';
import { createPool } from '../../server/db/pool.ts';
import { buildApp } from '../../server/http/app.ts';
import type { DeskSocketOptions } from '../../server/socket/options.ts';
import { silentLog, type TestDatabase } from './db.ts';
import { listenOnLoopback, TEST_JWT_SECRET } from './http.ts';

/** A server node with live push, in this process: its own hub (LISTEN connection) and HTTP server. */
export interface PushServer {
  url: string;
  /** ws://…/api/sync/ws */
  wsUrl: string;
  app: FastifyInstance;
  hub: TenantHub;
  rules: SyncRules;
  token(tenantId: string, options?: { role?: Role; ttlSeconds?: number }): Promise<string>;
  /** Closes the app (sockets get 1001), then stops the hub. */
  close(): Promise<void>;
}

export async function startPushServer(
  db: TestDatabase,
  options: {
    rules?: unknown;
    socket?: Partial<DeskSocketOptions>;
    hub?: Partial<Omit<TenantHubOptions, 'pool' | 'rules' | 'connectionString'>>;
    log?: Logger;
  } = {},
): Promise<PushServer> {
  const rules = parseSyncRules(options.rules ?? {});
  const log = options.log ?? silentLog;
  // The node's own pool, ended with it: nothing of it is left when the test drops its database.
  const pool = createPool(db.url, { max: 10, application: 'push-server' });
  const hub = new TenantHub(log, { connectionString: db.url, pool, rules, ...options.hub });
  const running = hub.run();
  await hub.listening;
  const app = await buildApp(log, {
    pool,
    rules,
    jwtSecret: TEST_JWT_SECRET,
    push: { hub, ...(options.socket === undefined ? {} : { options: options.socket }) },
  });
  const port = await listenOnLoopback(app);
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/api/sync/ws`,
    app,
    hub,
    rules,
    token: (tenantId, { role = 'desk', ttlSeconds = 3600 } = {}) =>
      signToken(TEST_JWT_SECRET, { sub: `user-${role}`, tenantId, role }, ttlSeconds),
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await hub.stop();
      await running;
      await pool.end();
    },
  };
}

/**
 * TestDatabase.drop() ends the pool and at once terminates the database's backends; pg-pool's end()
 * resolves before its clients' sockets are closed, so a backend terminated meanwhile makes the pool emit
 * 'error' with nobody listening, an unhandled error. Until the helper waits for its clients, tests that
 * used `db.pool` listen here.
 */
export function toleratePoolEndRace(db: TestDatabase): TestDatabase {
  db.pool.on('error', () => undefined);
  return db;
}
