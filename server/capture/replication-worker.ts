/**
 * The replication session's receiving half, on a worker thread (replication-source.ts starts it): it
 * holds the replication connection, and parses, groups and decodes pgoutput into committed transactions,
 * which it posts to capture's thread. Decoding is about half of capture's CPU; on capture's own thread it
 * delayed every statement of the single writer (issue 12). The worker never stores or acknowledges
 * anything by itself: it acknowledges what capture's thread tells it to, and stops reading the slot while
 * more than the queue allows is posted and not yet released.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LogicalReplicationService, type Pgoutput } from 'pg-logical-replication';
import pino from 'pino';
import { ChangeDecoder } from './decode.ts';
import { RawTextPgoutputPlugin } from './plugin.ts';
import type { FromWorker, ToWorker, WorkerSettings } from './replication-source.ts';
import { TransactionAssembler } from './transactions.ts';
import { must } from '../../shared/asserts.ts';

// The value conversions in values.ts rely on these output formats.
const SESSION_OPTIONS = '-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=1';

const port = must(parentPort, 'replication-worker runs on a worker thread');
const settings = workerData as WorkerSettings;
const post = (message: FromWorker): void => port.postMessage(message);
const log = pino({ level: settings.logLevel }, { write: (line: string) => post({ type: 'log', line }) });

const assembler = new TransactionAssembler(
  log,
  new ChangeDecoder(settings.rules, { history: settings.history }),
  settings.piece,
  settings.resume,
);
const service = new LogicalReplicationService(
  {
    connectionString: settings.connectionString,
    application_name: 'school-sync-capture',
    options: SESSION_OPTIONS,
  },
  { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
);

/** Rows and payload characters posted and not yet released by capture's thread. */
let heldRows = 0;
let heldBytes = 0;
/** While paused: what the library waits on before reading on, and how to let it. */
let paused: { reading: Promise<void>; resume: () => void } | null = null;
let failed = false;

function fail(cause: unknown): void {
  if (failed) return;
  failed = true;
  const error = cause instanceof Error ? cause : new Error(String(cause));
  post({ type: 'error', message: error.message, stack: error.stack ?? '' });
}

function full(): boolean {
  return heldRows > settings.queueMaxRows || heldBytes > 4 * settings.batchMaxBytes;
}

service.on('data', (_lsn: string, message: Pgoutput.Message) => {
  if (failed) return undefined;
  try {
    const txn = assembler.push(message);
    if (txn !== null) {
      heldRows += txn.rows.length;
      heldBytes += txn.bytes;
      post({ type: 'transaction', txn });
    }
  } catch (error) {
    fail(error);
    return undefined;
  }
  // Returning a promise makes the library pause the socket until capture's thread releases enough.
  if (!full()) return undefined;
  if (paused === null) {
    let resume!: () => void;
    const reading = new Promise<void>((resolve) => (resume = resolve));
    paused = { reading, resume };
  }
  return paused.reading;
});
service.on('heartbeat', (lsn: string, _at: number, reply: boolean) => {
  // Deferred past the microtasks in which the library hands over the messages received before this
  // keepalive, so that every transaction they complete is posted before it.
  setImmediate(() => post({ type: 'keepalive', lsn, reply, inTransaction: assembler.inTransaction }));
});
service.on('error', (error: Error) => fail(error));
service.once('start', () => post({ type: 'started' }));

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'release':
      heldRows -= message.rows;
      heldBytes -= message.bytes;
      if (!full() && paused !== null) {
        paused.resume();
        paused = null;
      }
      break;
    case 'acknowledge':
      service.acknowledge(message.lsn).catch((error: unknown) => fail(error));
      break;
    case 'stop':
      failed = true;
      paused?.resume();
      void service.stop().finally(() => post({ type: 'stopped' }));
      break;
  }
});

const plugin = new RawTextPgoutputPlugin({
  protoVersion: 1,
  publicationNames: [settings.publicationName],
  messages: true,
});
// subscribe() settles only when the stream ends; the session is driven by the events above.
service.subscribe(plugin, settings.slotName, settings.startLsn).then(
  () => fail(new Error('replication stream ended')),
  (error: unknown) => fail(error),
);
