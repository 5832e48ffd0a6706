/**
 * The HTTP server of bench/down.bench.ts, in its own process so that its memory can be sampled alone.
 * Reads DATABASE_URL and SYNC_JWT_SECRET; prints one JSON line `{"port": N}` once listening.
 */
import { pino } from 'pino';
import { loadSyncRules } from '../server/config/rules.ts';
import { createPool } from '../server/db/pool.ts';
import { buildApp } from '../server/http/app.ts';

const url = process.env.DATABASE_URL;
const jwtSecret = process.env.SYNC_JWT_SECRET;
if (url === undefined || jwtSecret === undefined)
  throw new Error('DATABASE_URL and SYNC_JWT_SECRET are required');

const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const pool = createPool(url, { max: 4, application: 'bench-down-server' });
const app = await buildApp(log, { pool, rules: loadSyncRules(undefined), jwtSecret });
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ port: address !== null && typeof address === 'object' ? address.port : 0 })}\n`,
);

process.on('SIGTERM', () => {
  app
    .close()
    .then(() => pool.end())
    .then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'bench server stop failed');
        process.exit(1);
      },
    );
});
