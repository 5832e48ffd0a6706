import { ENTITY_TYPES } from '../../../shared/entities.ts';
import { checksumRequestSchema } from '../../../shared/protocol.ts';
import { CaptureWaiter } from '../../log/capture-wait.ts';
import { readChecksums } from '../../log/checksum.ts';
import type { ApiDeps, ApiRoutes } from '../app.ts';
import { authOf, requireRole } from '../auth.ts';
import { parseBody } from '../validate.ts';
import { servedTypesFilter } from '../../config/served-types.ts';

const BODY_LIMIT = 64 * 1024;
/** Capture stores a quiet log's changes within milliseconds; longer means it is down or far behind. */
const CAPTURE_WAIT_MS = 10_000;

/**
 * POST /api/sync/checksum: per type, the count and the sum of row hashes of the tenant's current rows, and
 * the cursor at which a desk holding everything up to it must compute the same. 503 NOT_READY when
 * capture does not catch up with the request's start in time.
 */
export const registerChecksumRoutes: ApiRoutes = (api, deps: ApiDeps) => {
  // One per server node: its concurrent checksum requests share the WAL mark and the progress reads.
  const capture = new CaptureWaiter(deps.pool, { slotName: deps.rules.capture.slotName });
  api.post(
    '/sync/checksum',
    { bodyLimit: BODY_LIMIT, preHandler: requireRole('desk', 'admin') },
    async (request) => {
      const body = parseBody(checksumRequestSchema, request.body);
      const types = servedTypesFilter(deps.rules, body.entityTypes, ENTITY_TYPES) ?? ENTITY_TYPES;
      const aborted = new AbortController();
      request.raw.once('close', () => aborted.abort());
      await capture.wait({ timeoutMs: CAPTURE_WAIT_MS, signal: aborted.signal });
      return readChecksums(deps.pool, authOf(request).tenantId, types);
    },
  );
};
