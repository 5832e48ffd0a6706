import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DeskSocketOptions } from '../../server/socket/options.ts';
import { waitFor } from './db.ts';
import { onLines, onTail } from './run-process.ts';
import type { NodeStatus } from './ws-node.ts';

const NODE = fileURLToPath(new URL('./ws-node.ts', import.meta.url));

/** A server node (test/support/ws-node.ts) in a child process, with its latest status line. */
export class NodeProcess {
  readonly process: ChildProcess;
  status: NodeStatus | null = null;
  stderr = '';

  constructor(options: {
    databaseUrl: string;
    rules?: unknown;
    socket?: Partial<DeskSocketOptions>;
    capture?: boolean;
    identity?: string;
    statusMs?: number;
    nodeArgs?: string[];
  }) {
    this.process = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', NODE], {
      env: {
        ...process.env,
        NODE_DATABASE_URL: options.databaseUrl,
        NODE_RULES: JSON.stringify(options.rules ?? {}),
        NODE_SOCKET: JSON.stringify(options.socket ?? {}),
        NODE_CAPTURE: options.capture === true ? '1' : '0',
        NODE_STATUS_MS: String(options.statusMs ?? 200),
        ...(options.identity === undefined ? {} : { NODE_IDENTITY: options.identity }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onLines(this.process.stdout, (lines) => {
      const last = lines.filter((l) => l.startsWith('{')).at(-1);
      if (last !== undefined) this.status = JSON.parse(last) as NodeStatus;
    });
    onTail(this.process.stderr, 20_000, (tail) => (this.stderr = tail));
  }

  /** Waits for the first status line (the node listens). */
  async ready(timeoutMs = 30_000): Promise<this> {
    await waitFor(() => this.status !== null || this.exited, { timeoutMs, message: 'node listening' });
    if (this.status === null) throw new Error(`node exited: ${this.stderr}`);
    return this;
  }

  get wsUrl(): string {
    if (this.status === null) throw new Error('node not ready');
    return `ws://127.0.0.1:${this.status.port}/api/sync/ws`;
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.process.once('exit', () => resolve());
      this.process.kill(signal);
    });
  }
}
