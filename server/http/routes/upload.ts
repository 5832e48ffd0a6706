import {
  resolveConflictRequestSchema,
  syncUpRequestSchema,
  type SyncUpResponse,
} from '../../../shared/protocol.ts';
import { uuidSchema } from '../../../shared/entities.ts';
import { SyncError } from '../../errors.ts';
import { uploadEvents, type UploadDeps } from '../../upload/batch.ts';
import type { EventOutcome } from '../../upload/outcomes.ts';
import { ColumnCatalog } from '../../upload/columns.ts';
import { resolveConflict } from '../../upload/resolve.ts';
import type { ApiDeps, ApiRoutes } from '../app.ts';
import { authOf, requireRole } from '../auth.ts';
import { parseBody } from '../validate.ts';

function responseOf(outcomes: EventOutcome[]): SyncUpResponse {
  const response: SyncUpResponse = {
    acknowledged: [],
    conflicts: [],
    rejected: [],
    syncTimestamp: new Date().toISOString(),
  };
  for (const outcome of outcomes) {
    if (outcome.list === 'acknowledged') response.acknowledged.push(outcome.entry);
    else if (outcome.list === 'conflicts') response.conflicts.push(outcome.entry);
    else response.rejected.push(outcome.entry);
  }
  return response;
}

/** POST /api/sync/up and POST /api/sync/conflicts/:outboxEventId/resolve. */
export const registerUploadRoutes: ApiRoutes = (api, deps: ApiDeps) => {
  const upload: UploadDeps = {
    pool: deps.pool,
    rules: deps.rules,
    catalog: new ColumnCatalog(),
    log: api.log,
  };

  api.post(
    '/sync/up',
    { config: { syncLog: 'UP' }, preHandler: requireRole('desk', 'admin') },
    async (request) => {
      const auth = authOf(request);
      const raw = request.body as { events?: unknown } | null;
      // Counted before the events are parsed, so an oversized batch costs nothing.
      if (raw !== null && typeof raw === 'object' && Array.isArray(raw.events)) {
        const max = deps.rules.limits.uploadMaxEvents;
        if (raw.events.length > max) {
          throw new SyncError('TOO_MANY_EVENTS', `a request may carry at most ${max} events`, {
            limit: max,
            received: raw.events.length,
          });
        }
      }
      const body = parseBody(syncUpRequestSchema, request.body);
      request.syncResult = { clientId: body.clientId, eventsCount: body.events.length };
      const outcomes = await uploadEvents(
        upload,
        { tenantId: auth.tenantId, userId: auth.sub, clientId: body.clientId },
        body.events,
      );
      deps.metrics.countUploadOutcomes(outcomes);
      const response = responseOf(outcomes);
      const settled = response.acknowledged.length;
      request.syncResult = {
        clientId: body.clientId,
        eventsCount: body.events.length,
        conflictsCount: response.conflicts.length,
        rejectedCount: response.rejected.length,
        status: settled === body.events.length ? 'SUCCESS' : settled === 0 ? 'FAILED' : 'PARTIAL',
      };
      return response;
    },
  );

  api.post<{ Params: { outboxEventId: string } }>(
    '/sync/conflicts/:outboxEventId/resolve',
    { preHandler: requireRole('desk', 'admin') },
    async (request) => {
      const auth = authOf(request);
      const id = uuidSchema.safeParse(request.params.outboxEventId);
      if (!id.success) {
        throw new SyncError(
          'UNKNOWN_CONFLICT',
          `outbox event ${request.params.outboxEventId} never met a conflict`,
        );
      }
      const body = parseBody(resolveConflictRequestSchema, request.body);
      const clientId = request.headers['x-client-id'];
      const outcome = await resolveConflict(
        upload,
        {
          tenantId: auth.tenantId,
          userId: auth.sub,
          clientId: typeof clientId === 'string' ? clientId : auth.sub,
        },
        id.data,
        body,
      );
      return responseOf([outcome]);
    },
  );
};
