import compress from '@fastify/compress';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { SyncRules } from '../config/rules.ts';
import type { Pool } from '../db/pool.ts';
import { PageTokenCodec } from '../log/page-token.ts';
import type { TenantHub } from '../fanout/tenant-hub.ts';
import type { DeskSockets } from '../socket/desk-sockets.ts';
import type { DeskSocketOptions } from '../socket/options.ts';
import { registerSyncSocket } from './routes/sync-socket.ts';
import { TokenRevocations } from '../auth/revocations.ts';
import { Authenticator, TenantDirectory } from '../auth/authenticator.ts';
import { authenticate } from './auth.ts';
import { installErrorHandling, refuseWhileClosing } from './errors.ts';
import { httpLogger } from './log-redaction.ts';
import { limitRequestRate, RequestRateLimiter } from './rate-limit.ts';
import { registerChecksumRoutes } from './routes/checksum.ts';
import { registerDeskRoutes } from './routes/desks.ts';
import { registerDocsRoutes } from './routes/docs.ts';
import { registerDownRoutes } from './routes/down.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerHistoryRoutes } from './routes/history.ts';
import { registerMetricsRoutes } from './routes/metrics.ts';
import { registerSnapshotRoutes } from './routes/snapshot.ts';
import { registerUploadRoutes } from './routes/upload.ts';
import { adminRoutes } from './routes/admin.ts';
import type { CaptureStatus } from '../capture/capture.ts';
import type { ServiceFailure } from '../service.ts';
import { installSyncLog } from './sync-log-hook.ts';
import { SyncMetrics } from '../metrics/sync-metrics.ts';

export interface AppDeps {
  pool: Pool;
  rules: SyncRules;
  jwtSecret: string;
  /** Live push: with a hub (started by the caller, stopped after the app), /api/sync/ws is served. */
  push?: { hub: TenantHub; options?: Partial<DeskSocketOptions> };
  /** This process's capture, when it runs one: /healthz and the admin route report it. */
  captureStatus?: () => CaptureSummary;
  /** This process's services that failed and wait to be restarted: /healthz is not ready meanwhile. */
  serviceFailures?: () => ServiceFailure[];
  /** This process's metrics, served at /metrics; a fresh set when absent. */
  metrics?: SyncMetrics;
}

/** What the HTTP side reports of this process's capture. */
export type CaptureSummary = Pick<
  CaptureStatus,
  'state' | 'failingSince' | 'leader' | 'eventsPerSecond' | 'lastStoredLsn' | 'queuedRows'
>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The desk sockets of /api/sync/ws; null when the app was built without `push`. */
    deskSockets: DeskSockets | null;
  }
}

/** What /api routes are given: the app's dependencies plus the shared pieces built once here. */
export interface ApiDeps extends AppDeps {
  authenticator: Authenticator;
  pageTokens: PageTokenCodec;
  metrics: SyncMetrics;
}

/**
 * Registers routes under /api on an encapsulated instance whose every request is already authenticated
 * (`request.auth` is set). Paths are relative to /api; add a role check with `preHandler: requireRole(...)`.
 */
export type ApiRoutes = (api: FastifyInstance, deps: ApiDeps) => void;

const API_ROUTES: readonly ApiRoutes[] = [
  registerDownRoutes,
  registerSnapshotRoutes,
  registerUploadRoutes,
  registerChecksumRoutes,
  registerDeskRoutes,
  registerHistoryRoutes,
];

/**
 * The HTTP server: /healthz without a token, and every /api route behind bearer-token authentication. Every
 * error leaves as a protocol error body. The caller listens and closes; `extraApiRoutes` adds /api routes.
 */
export async function buildApp(
  log: Logger,
  deps: AppDeps,
  extraApiRoutes: readonly ApiRoutes[] = [],
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: httpLogger(log),
    bodyLimit: deps.rules.limits.uploadMaxBytes,
    // Fastify's own 503 while closing has no `code`: answered below in the protocol's shape instead.
    return503OnClosing: false,
    // A client that stops reading a large (compressed, streamed) answer must not hold shutdown forever: on
    // close every connection is ended; desks retry and catch up from their cursor.
    forceCloseConnections: true,
  });
  const metrics = deps.metrics ?? new SyncMetrics(log.child({ component: 'metrics' }));
  // Each app (each server node) keeps its own view of revoked desk tokens, polled until it closes.
  const revocations = new TokenRevocations(log.child({ component: 'revocations' }), { pool: deps.pool });
  // No first read awaited: a token id this node has not seen yet is read from desk_tokens on its first use.
  const polling = revocations.run();
  app.addHook('onClose', async () => {
    await revocations.stop();
    await polling;
  });
  const apiDeps: ApiDeps = {
    ...deps,
    metrics,
    authenticator: new Authenticator(deps.jwtSecret, new TenantDirectory(deps.pool), revocations),
    pageTokens: new PageTokenCodec(deps.jwtSecret),
  };
  // The protocol speaks JSON only: any other body is 415 rather than a string handed to a route.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('auth', null);
  installErrorHandling(app);
  refuseWhileClosing(app);
  // A desk coming back after weeks offline pages through megabytes of JSON that shrinks ~9x: gzip at the
  // fastest level for any client that asks (Accept-Encoding), never brotli (too slow for these sizes).
  await app.register(compress, {
    threshold: 2048,
    encodings: ['gzip', 'deflate'],
    zlibOptions: { level: 1 },
  });
  // Docs before any route: they record every route registered after them.
  registerDocsRoutes(app);
  registerMetricsRoutes(app, { ...deps, metrics });
  installSyncLog(app, deps.pool, metrics);
  registerHealthRoutes(app, deps);
  await app.register(
    (api, _options, done) => {
      api.addHook('onRequest', authenticate(apiDeps.authenticator));
      api.addHook('onRequest', limitRequestRate(new RequestRateLimiter(deps.rules.limits.requestsPerMinute)));
      const admin = adminRoutes(
        deps.captureStatus === undefined ? {} : { captureStatus: deps.captureStatus },
      );
      for (const register of [...API_ROUTES, admin, ...extraApiRoutes]) register(api, apiDeps);
      done();
    },
    { prefix: '/api' },
  );
  const push = deps.push;
  app.decorate(
    'deskSockets',
    push === undefined
      ? null
      : await registerSyncSocket(app, log.child({ component: 'socket' }), { ...apiDeps, ...push }),
  );
  const sockets = app.deskSockets;
  if (sockets !== null) metrics.setDeskSource(() => sockets.stats);
  return app;
}
