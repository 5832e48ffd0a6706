import { ENTITY_TYPES } from '../../../shared/entities.ts';
import { syncDownRequestSchema } from '../../../shared/protocol.ts';
import { downResponseJson, readCatchUp } from '../../log/catch-up.ts';
import type { ApiDeps, ApiRoutes } from '../app.ts';
import { authOf, requireRole } from '../auth.ts';
import { effectiveLimit, parseBody } from '../validate.ts';
import { servedTypesFilter } from '../../config/served-types.ts';

const BODY_LIMIT = 64 * 1024;

/** POST /api/sync/down: the next page of the tenant's change log after the sent cursor. */
export const registerDownRoutes: ApiRoutes = (api, deps: ApiDeps) => {
  api.post(
    '/sync/down',
    { bodyLimit: BODY_LIMIT, config: { syncLog: 'DOWN' }, preHandler: requireRole('desk', 'admin') },
    async (request, reply) => {
      const body = parseBody(syncDownRequestSchema, request.body);
      const { limits } = deps.rules;
      request.syncResult = { clientId: body.clientId, eventsCount: 0 };
      const page = await readCatchUp(deps.pool, {
        tenantId: authOf(request).tenantId,
        cursor: body.cursor ?? null,
        lastSyncTimestamp: body.lastSyncTimestamp ?? null,
        entityTypes: servedTypesFilter(deps.rules, body.entityTypes, ENTITY_TYPES),
        limit: effectiveLimit(body.limit, { default: limits.downDefault, max: limits.downMax }),
        maxBytes: limits.pageMaxBytes,
        hiddenFields: deps.rules.hiddenFields,
        countRemaining: body.countRemaining === true,
      });
      request.syncResult.eventsCount = page.count;
      return reply
        .type('application/json; charset=utf-8')
        .send(downResponseJson(page, new Date().toISOString()));
    },
  );
};
