import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DeskSyncOptions, SyncStatus } from '../../desktop/sync/index.ts';
import { onLines, onTail } from './run-process.ts';

const CHILD = fileURLToPath(new URL('./desk-child.ts', import.meta.url));

export interface DeskProcessConfig {
  db: string;
  tenantId: string;
  serverUrl: string;
  token: string;
  create?: number;
  options?: Partial<DeskSyncOptions>;
}

/** A desk running in a child process (see desk-child.ts), killable with SIGKILL. */
export class DeskProcess {
  readonly process: ChildProcess;
  status: SyncStatus | null = null;
  /** Students on the desk at the last committed cursor. */
  committedStudents = 0;
  stderr = '';
  private readonly exit: Promise<void>;

  constructor(config: DeskProcessConfig) {
    this.process = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: {
        ...process.env,
        DESK_DB: config.db,
        DESK_TENANT: config.tenantId,
        DESK_SERVER: config.serverUrl,
        DESK_TOKEN: config.token,
        DESK_CREATE: String(config.create ?? 0),
        DESK_OPTIONS: JSON.stringify(config.options ?? {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exit = new Promise((resolve) => this.process.once('exit', () => resolve()));
    onLines(this.process.stdout, (lines) => {
      for (const line of lines) {
        if (line === '') continue;
        const message = JSON.parse(line) as { kind: string; students?: number } & SyncStatus;
        if (message.kind === 'status') this.status = message;
        if (message.kind === 'committed') this.committedStudents = message.students ?? 0;
      }
    });
    onTail(this.process.stderr, 20_000, (tail) => (this.stderr = tail));
  }

  async kill9(): Promise<void> {
    this.process.kill('SIGKILL');
    await this.exit;
  }

  async stop(): Promise<void> {
    this.process.kill('SIGTERM');
    await this.exit;
  }
}
