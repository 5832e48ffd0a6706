import { snapshotRequestSchema } from '../../../shared/protocol.ts';
import { readSnapshotPage, snapshotResponseJson } from '../../log/snapshot.ts';
import type { ApiDeps, ApiRoutes } from '../app.ts';
import { authOf, requireRole } from '../auth.ts';
import { effectiveLimit, parseBody } from '../validate.ts';
import { checkServed } from '../../config/served-types.ts';

const BODY_LIMIT = 64 * 1024;

/** POST /api/sync/snapshot: a page of the tenant's current rows, to bootstrap a new or stale desk. */
export const registerSnapshotRoutes: ApiRoutes = (api, deps: ApiDeps) => {
  api.post(
    '/sync/snapshot',
    { bodyLimit: BODY_LIMIT, config: { syncLog: 'SNAPSHOT' }, preHandler: requireRole('desk', 'admin') },
    async (request, reply) => {
      const body = parseBody(snapshotRequestSchema, request.body);
      const { rules } = deps;
      request.syncResult = { clientId: body.clientId, eventsCount: 0 };
      if (body.entityTypes !== undefined) checkServed(rules, body.entityTypes);
      const page = await readSnapshotPage(deps.pool, deps.pageTokens, {
        tenantId: authOf(request).tenantId,
        entityTypes: body.entityTypes ?? null,
        servedTypes: rules.entityTypes,
        pageToken: body.pageToken ?? null,
        limit: effectiveLimit(body.limit, {
          default: rules.limits.snapshotDefault,
          max: rules.limits.snapshotMax,
        }),
        maxBytes: rules.limits.pageMaxBytes,
        hiddenFields: rules.hiddenFields,
      });
      request.syncResult.eventsCount = page.count;
      return reply.type('application/json; charset=utf-8').send(snapshotResponseJson(page));
    },
  );
};
