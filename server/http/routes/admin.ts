import {
  readReplicationStatus,
  statusOptionsFromRules,
  type LiveCaptureStatus,
} from '../../ops/replication-status.ts';
import type { WalThresholds } from '../../ops/thresholds.ts';
import { PROGRESS_RATE, RateMeter } from '../../capture/rate.ts';
import type { ApiRoutes } from '../app.ts';
import { authOf, requireRole } from '../auth.ts';

export interface AdminRouteOptions extends Partial<WalThresholds> {
  /** This process's capture (Capture.status): its events/s is used while it leads. */
  captureStatus?: () => LiveCaptureStatus | null;
}

/**
 * GET /api/admin/replication (role dba or admin): the facts of `sync-admin status --json` — slot,
 * publication, capture, log size, warnings. The per-tenant part of the log holds the caller's tenant only:
 * a token never reads another tenant's data, even an admin's.
 */
export function adminRoutes(options: AdminRouteOptions = {}): ApiRoutes {
  return (api, deps) => {
    // Kept across requests: two readings of capture's counter give events/s on any node.
    const rate = new RateMeter(PROGRESS_RATE);
    api.get('/admin/replication', { preHandler: requireRole('dba', 'admin') }, async (request) => {
      return readReplicationStatus(deps.pool, {
        ...statusOptionsFromRules(deps.rules),
        ...(options.walWarnBytes === undefined ? {} : { walWarnBytes: options.walWarnBytes }),
        ...(options.walCriticalBytes === undefined ? {} : { walCriticalBytes: options.walCriticalBytes }),
        tenantId: authOf(request).tenantId,
        rate,
        liveCapture: options.captureStatus?.() ?? null,
      });
    });
  };
}
