import { listDeskTokens } from '../../auth/desk-tokens.ts';
import type { ApiRoutes } from '../app.ts';
import { authOf, requireRole } from '../auth.ts';

/**
 * GET /api/admin/desks (role admin): the registered desk tokens of the caller's tenant with their last
 * contact, what `sync-admin desk list --tenant` prints. Another tenant's desks are never listed.
 */
export const registerDeskRoutes: ApiRoutes = (api, deps) => {
  api.get('/admin/desks', { preHandler: requireRole('admin') }, async (request) => ({
    desks: await listDeskTokens(deps.pool, { tenantId: authOf(request).tenantId }),
  }));
};
