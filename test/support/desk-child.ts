/**
 * A desk in its own process, so that a test can kill -9 it. Environment: DESK_DB, DESK_TENANT,
 * DESK_SERVER, DESK_TOKEN, DESK_CREATE (students to create before syncing), DESK_OPTIONS (JSON of
 * DeskSyncOptions). Prints one JSON line per status change and per committed cursor; SIGTERM stops cleanly.
 */
import { pino } from 'pino';
import { DeskStore } from '../../desktop/store/index.ts';
import { DeskSync, type DeskSyncOptions } from '../../desktop/sync/index.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const store = DeskStore.open(env('DESK_DB'), { tenantId: env('DESK_TENANT') });
const create = Number(process.env.DESK_CREATE ?? '0');
for (let i = 0; i < create; i++) store.create('STUDENT', { firstName: `Kid${i}`, lastName: 'Crash' });

const options = JSON.parse(process.env.DESK_OPTIONS ?? '{}') as Partial<DeskSyncOptions>;
const log = pino({ level: process.env.DESK_LOG_LEVEL ?? 'silent' }, pino.destination(2));
const sync = new DeskSync(log, { store, serverUrl: env('DESK_SERVER'), token: env('DESK_TOKEN'), options });
const print = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
sync.onStatus((status) => print({ kind: 'status', ...status }));
store.on('committed', ({ cursor }) => print({ kind: 'committed', cursor, students: store.count('STUDENT') }));
print({ kind: 'ready', pending: store.pendingCount() });
const running = sync.run();
process.once('SIGTERM', () => {
  void sync
    .stop()
    .then(() => running)
    .then(() => {
      store.close();
      process.exit(0);
    });
});
