import type { FastifyInstance } from 'fastify';
import type { Pool } from '../../db/pool.ts';
import type { CaptureSummary } from '../app.ts';

const DATABASE_TIMEOUT_MS = 2_000;

/**
 * GET /healthz, without a token: 200 while the database answers, else 503. With a capture in this process,
 * says whether it leads (streams the slot) or stands by.
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  deps: { pool: Pool; captureStatus?: () => CaptureSummary },
): void {
  app.get('/healthz', async (request, reply) => {
    const database = await databaseAnswers(deps.pool).catch((error: unknown) => {
      request.log.warn({ err: error }, 'health check: database does not answer');
      return false;
    });
    if (!database) return reply.code(503).send({ status: 'unavailable', database: 'down' });
    const capture = deps.captureStatus?.();
    if (capture === undefined) return reply.send({ status: 'ok', database: 'up' });
    return reply.send({
      status: 'ok',
      database: 'up',
      capture: {
        role: capture.leader ? 'leader' : 'standby',
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
