/**
 * A capture process for tests that kill it: `node --import tsx test/support/capture-child.ts`.
 * Environment: CAPTURE_DATABASE_URL, CAPTURE_SLOT, CAPTURE_IDENTITY, optional CAPTURE_BATCH_MAX_ROWS and
 * CAPTURE_QUEUE_MAX_ROWS.
 * Prints one JSON status line to stdout every 100 ms; stops cleanly on SIGTERM.
 */
import { pino } from 'pino';
import { Capture } from '../../server/capture/capture.ts';
import { parseSyncRules } from '../../server/config/rules.ts';
import { createPool } from '../../server/db/pool.ts';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

const connectionString = required('CAPTURE_DATABASE_URL');
const rules = parseSyncRules({
  capture: {
    slotName: required('CAPTURE_SLOT'),
    publicationName: 'sync_pub',
    standbyPollMs: 100,
    batchMaxRows: Number(process.env.CAPTURE_BATCH_MAX_ROWS ?? 5000),
    queueMaxRows: Number(process.env.CAPTURE_QUEUE_MAX_ROWS ?? 100_000),
  },
});
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }, pino.destination(2));
const pool = createPool(connectionString, { max: 4, application: 'capture-child' });
const capture = new Capture(log, { connectionString, pool, rules, identity: required('CAPTURE_IDENTITY') });

const report = setInterval(() => {
  process.stdout.write(`${JSON.stringify(capture.status)}\n`);
}, 100);
const running = capture.run();
process.once('SIGTERM', () => {
  void capture.stop();
});
await running;
clearInterval(report);
await pool.end();
