import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Logger } from 'pino';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { parseSyncRules, type SyncRules } from '../../server/config/rules.ts';
import { Capture, type CaptureStatus } from '../../server/capture/capture.ts';
import { ensurePublication, ensureSlot } from '../../server/capture/setup.ts';
import { createClient } from '../../server/db/pool.ts';
import { SYNC_EVENTS_CHANNEL } from '../../server/log/notification.ts';
import { createTestDatabase, silentLog, waitFor, type TestDatabase } from './db.ts';
import { onLines, onTail } from './run-process.ts';

/** Sync rules for a capture test. Slot names are cluster-wide, so each test database gets its own. */
export function captureRules(db: TestDatabase, overrides: Record<string, unknown> = {}): SyncRules {
  const capture = (overrides.capture ?? {}) as Record<string, unknown>;
  return parseSyncRules({
    ...overrides,
    capture: { ...capture, slotName: `slot_${db.name}`, publicationName: 'sync_pub', standbyPollMs: 100 },
  });
}

export async function setUpCapture(db: TestDatabase, rules: SyncRules): Promise<void> {
  await ensurePublication(db.pool, rules);
  await ensureSlot(db.pool, rules.capture.slotName);
}

/** A fresh test database with a publication and a slot of its own, and the rules naming them. */
export async function createCaptureDatabase(
  overrides: Record<string, unknown> = {},
): Promise<{ db: TestDatabase; rules: SyncRules }> {
  const db = await createTestDatabase();
  try {
    const rules = captureRules(db, overrides);
    await setUpCapture(db, rules);
    return { db, rules };
  } catch (error) {
    await db.drop();
    throw error;
  }
}

/** A capture in this process on the test database, once it leads. */
export async function startCapture(
  db: TestDatabase,
  rules: SyncRules,
  log: Logger = silentLog,
): Promise<Capture> {
  const capture = new Capture(log, { connectionString: db.url, pool: db.pool, rules });
  void capture.run();
  await waitFor(() => capture.status.leader, { message: 'capture leads' });
  return capture;
}

/** A connection listening on the sync_events channel that appends each notification's payload to `payloads`. */
export async function listenToSyncEvents(db: TestDatabase, payloads: string[]): Promise<pg.Client> {
  const listener = createClient(db.url);
  await listener.connect();
  listener.on('notification', (n) => payloads.push(n.payload ?? ''));
  await listener.query(`LISTEN ${SYNC_EVENTS_CHANNEL}`);
  return listener;
}

/** The number of events of `tenant` stored in sync_events. */
export async function storedCount(db: TestDatabase, tenant: string): Promise<number> {
  const result = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM sync_events WHERE tenant_id = $1',
    [tenant],
  );
  return result.rows[0]!.n;
}

const CHILD = fileURLToPath(new URL('./capture-child.ts', import.meta.url));

/** A capture running in its own process, so that a test can kill -9 it. */
export class CaptureChild {
  readonly process: ChildProcess;
  lastStatus: CaptureStatus | null = null;
  stderr = '';

  constructor(
    db: TestDatabase,
    rules: SyncRules,
    readonly identity: string,
    env: Record<string, string> = {},
  ) {
    this.process = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: {
        ...process.env,
        ...env,
        CAPTURE_DATABASE_URL: db.url,
        CAPTURE_SLOT: rules.capture.slotName,
        CAPTURE_IDENTITY: identity,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onLines(this.process.stdout, (lines) => {
      const last = lines.at(-1);
      if (last !== undefined && last !== '') this.lastStatus = JSON.parse(last) as CaptureStatus;
    });
    onTail(this.process.stderr, 10_000, (tail) => (this.stderr = tail));
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  kill9(): Promise<void> {
    return this.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private signal(signal: NodeJS.Signals): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.process.once('exit', () => resolve());
      this.process.kill(signal);
    });
  }
}

/** What `captureChildSuite` gives the tests of its file (`db` and `rules` once its beforeAll has run). */
export interface CaptureChildSuite {
  readonly db: TestDatabase;
  readonly rules: SyncRules;
  /** A CaptureChild on the file's database, stopped after the test. */
  start: (identity: string, env?: Record<string, string>) => CaptureChild;
}

/**
 * Registers the hooks of a file (or describe block) whose tests kill capture processes: a capture database
 * (`overrides` for its rules) before all, every CaptureChild started through `start` stopped after each
 * test, the database dropped after all.
 */
export function captureChildSuite(overrides: Record<string, unknown> = {}): CaptureChildSuite {
  let created: { db: TestDatabase; rules: SyncRules } | undefined;
  const children: CaptureChild[] = [];
  const get = () => {
    if (created === undefined) throw new Error('the capture database is made in beforeAll');
    return created;
  };
  beforeAll(async () => {
    created = await createCaptureDatabase(overrides);
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.stop()));
  });
  afterAll(async () => {
    await created?.db.drop();
  });
  return {
    get db() {
      return get().db;
    },
    get rules() {
      return get().rules;
    },
    start: (identity, env = {}) => {
      const { db, rules } = get();
      const child = new CaptureChild(db, rules, identity, env);
      children.push(child);
      return child;
    },
  };
}

/** A sync_events row as the test pool returns it. */
export interface EventRow {
  id: number;
  tenant_id: string;
  entity_type: string;
  entity_id: string;
  operation: string;
  payload: Record<string, unknown>;
  server_version: number;
  commit_lsn: string;
  xid: number;
  modified_at: Date;
  origin_client_id: string | null;
  origin_outbox_event_id: string | null;
}

export async function events(db: TestDatabase, where: string, params: unknown[] = []): Promise<EventRow[]> {
  const result = await db.pool.query<EventRow>(
    `SELECT * FROM sync_events WHERE ${where} ORDER BY id`,
    params,
  );
  return result.rows;
}

/** Waits until at least `count` events of these entities are stored; returns them in log order. */
export async function eventsOf(db: TestDatabase, entityIds: string[], count: number): Promise<EventRow[]> {
  return waitFor(
    async () => {
      const rows = await events(db, 'entity_id = ANY($1::uuid[])', [entityIds]);
      return rows.length >= count ? rows : null;
    },
    { message: `${count} events of ${entityIds.join(',')}` },
  );
}

export { parseLsn as lsn } from '../../server/db/lsn.ts';
