import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseSyncRules, type SyncRules } from '../../server/config/rules.ts';
import type { CaptureStatus } from '../../server/capture/capture.ts';
import { ensurePublication, ensureSlot } from '../../server/capture/setup.ts';
import { waitFor, type TestDatabase } from './db.ts';

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
    let buffered = '';
    this.process.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      const last = lines.at(-1);
      if (last !== undefined && last !== '') this.lastStatus = JSON.parse(last) as CaptureStatus;
    });
    this.process.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-10_000);
    });
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
