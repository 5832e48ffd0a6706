import type { FastifyInstance } from 'fastify';
import type { SyncMetrics } from '../../metrics/sync-metrics.ts';
import type { AppDeps } from '../app.ts';

/**
 * GET /metrics, without a token: this process's metrics in Prometheus text format. Also times every HTTP
 * request (by route pattern, never by raw URL: ids in paths would make a series per request). The
 * database facts are read from `pool` about the rules' slot; `captureStatus` feeds the capture metrics
 * unless the caller already gave the metrics a fuller source.
 */
export function registerMetricsRoutes(
  app: FastifyInstance,
  deps: Pick<AppDeps, 'pool' | 'rules' | 'captureStatus'> & { metrics: SyncMetrics },
): void {
  const { metrics } = deps;
  metrics.watchDatabase({ pool: deps.pool, slotName: deps.rules.capture.slotName });
  const captureStatus = deps.captureStatus;
  if (!metrics.hasCaptureSource() && captureStatus !== undefined) metrics.setCaptureSource(captureStatus);

  app.addHook('onResponse', async (request, reply) => {
    // A WebSocket's "request" lasts as long as the socket: its lifetime is not a request duration.
    if (request.headers.upgrade?.toLowerCase() === 'websocket') return;
    metrics.observeHttpRequest(
      {
        method: request.method,
        route: request.routeOptions.url ?? '(unmatched)',
        statusCode: reply.statusCode,
      },
      reply.elapsedTime / 1000,
    );
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.scrape();
    return reply.type(metrics.contentType).send(text);
  });
}
