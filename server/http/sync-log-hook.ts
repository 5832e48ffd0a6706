import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from '../db/pool.ts';
import type { SyncMetrics } from '../metrics/sync-metrics.ts';
import { writeSyncLog, type SyncDirection, type SyncStatus } from '../log/sync-log.ts';

/** What a sync route reports about its request for the sync_log row. */
export interface SyncResult {
  clientId: string;
  eventsCount: number;
  conflictsCount?: number;
  rejectedCount?: number;
  /** Default: SUCCESS for a 2xx answer. */
  status?: SyncStatus;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Routes with a direction write one sync_log row per authenticated request, success or not. */
    syncLog?: SyncDirection;
  }
  interface FastifyRequest {
    syncResult: SyncResult | null;
  }
}

/**
 * Writes the sync_log row once the answer has left, so the row costs the caller no round trip. Requests
 * that failed authentication have no tenant and write no row. A FAILED row is counted in the metrics.
 */
export function installSyncLog(app: FastifyInstance, pool: Pool, metrics?: SyncMetrics): void {
  app.decorateRequest('syncResult', null);
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const direction = request.routeOptions.config.syncLog;
    if (direction === undefined || request.auth === null) return;
    const result = request.syncResult;
    const failed = reply.statusCode >= 400;
    const status = failed ? 'FAILED' : (result?.status ?? 'SUCCESS');
    if (status === 'FAILED') metrics?.countSyncLogFailure(direction);
    try {
      await writeSyncLog(pool, {
        tenantId: request.auth.tenantId,
        clientId: result?.clientId ?? clientIdOf(request.body),
        direction,
        status,
        eventsCount: failed ? 0 : (result?.eventsCount ?? 0),
        conflictsCount: result?.conflictsCount ?? 0,
        rejectedCount: result?.rejectedCount ?? 0,
        startedAt: new Date(Date.now() - reply.elapsedTime),
        durationMs: reply.elapsedTime,
        errorMessage: failed
          ? `${request.errorBody?.code ?? reply.statusCode}: ${request.errorBody?.message ?? 'request failed'}`
          : null,
        tokenId: request.auth.tokenId,
      });
    } catch (error) {
      request.log.error({ err: error, direction }, 'sync_log row could not be written');
    }
  });
}

/** The client id of a body that failed validation, when it has one; '' otherwise. */
function clientIdOf(body: unknown): string {
  if (typeof body !== 'object' || body === null) return '';
  const clientId = (body as { clientId?: unknown }).clientId;
  return typeof clientId === 'string' ? clientId.slice(0, 200) : '';
}
