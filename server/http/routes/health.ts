import type { FastifyInstance } from 'fastify';
import type { Pool } from '../../db/pool.ts';
import { CachedRead } from '../../metrics/cached-read.ts';
import type { CaptureSummary } from '../app.ts';
import type { ServiceFailure } from '../../service.ts';

const DATABASE_TIMEOUT_MS = 2_000;
/** A leader whose sessions have failed this long (a restart or a brief outage takes less) is not ready. */
export const CAPTURE_RETRY_GRACE_MS = 10_000;

/**
 * GET /healthz, without a token: ready (200) while the database answers and, with a capture in this process,
 * while that capture streams the slot or waits for it (standby); 503 when the database does not answer,
 * when capture has stopped, or when it leads but has failed to stream for CAPTURE_RETRY_GRACE_MS. The
 * database's answer is at most a second old (`databaseCheckedAt`).
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  deps: { pool: Pool; captureStatus?: () => CaptureSummary; serviceFailures?: () => ServiceFailure[] },
): void {
  // Probes closer together than a second share one database round trip (and its verdict).
  const check = new CachedRead(() => databaseAnswers(deps.pool));
  app.get('/healthz', async (request, reply) => {
    const { database, checkedAt } = await check.get().then(
      (read) => ({ database: read.value, checkedAt: new Date(read.readAt).toISOString() }),
      (error: unknown) => {
        request.log.warn({ err: error }, 'health check: database does not answer');
        return { database: false, checkedAt: null };
      },
    );
    if (!database)
      return reply.code(503).send({ status: 'unavailable', database: 'down', databaseCheckedAt: checkedAt });
    // A service that failed and waits for its supervisor to start it again makes the process not ready.
    const failures = deps.serviceFailures?.() ?? [];
    const services = failures.length === 0 ? {} : { failedServices: failures };
    const capture = deps.captureStatus?.();
    if (capture === undefined) {
      const ok = failures.length === 0;
      return reply.code(ok ? 200 : 503).send({
        status: ok ? 'ok' : 'unavailable',
        database: 'up',
        databaseCheckedAt: checkedAt,
        ...services,
      });
    }
    const failingMs = capture.failingSince === null ? 0 : Date.now() - Date.parse(capture.failingSince);
    const ready = capture.state !== 'stopped' && failingMs < CAPTURE_RETRY_GRACE_MS && failures.length === 0;
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ok' : 'unavailable',
      database: 'up',
      databaseCheckedAt: checkedAt,
      ...services,
      capture: {
        role: capture.leader ? 'leader' : 'standby',
        state: capture.state,
        failingSince: capture.failingSince,
        lastStoredLsn: capture.lastStoredLsn,
        eventsPerSecond: capture.eventsPerSecond,
        queuedRows: capture.queuedRows,
      },
    });
  });
}

async function databaseAnswers(pool: Pool): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${DATABASE_TIMEOUT_MS} ms`)),
      DATABASE_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([pool.query('SELECT 1'), timeout]);
    return true;
  } finally {
    clearTimeout(timer);
  }
}
