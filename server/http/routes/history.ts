import { historyRequestSchema } from '../../../shared/protocol.ts';
import { readHistory } from '../../history/read.ts';
import type { ApiDeps, ApiRoutes } from '../app.ts';
import { authOf, requireRole } from '../auth.ts';
import { parseBody } from '../validate.ts';
import { checkServed } from '../../config/served-types.ts';

const BODY_LIMIT = 16 * 1024;

/**
 * POST /api/sync/history (roles desk, admin): who changed one record of the caller's tenant, when, from
 * where and what changed, newest first. Another tenant's record is 404 UNKNOWN_ENTITY, like a missing one.
 */
export const registerHistoryRoutes: ApiRoutes = (api, deps: ApiDeps) => {
  api.post(
    '/sync/history',
    { bodyLimit: BODY_LIMIT, preHandler: requireRole('desk', 'admin') },
    async (request) => {
      const body = parseBody(historyRequestSchema, request.body);
      checkServed(deps.rules, [body.entityType]);
      return readHistory(deps.pool, {
        tenantId: authOf(request).tenantId,
        entityType: body.entityType,
        entityId: body.entityId.toLowerCase(),
        limit: body.limit,
        before: body.before,
        hidden: deps.rules.hiddenFields[body.entityType],
      });
    },
  );
};
