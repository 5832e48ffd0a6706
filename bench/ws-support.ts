/**
 * What the WebSocket benchmarks share: an embedded Postgres, a server node in a child process (so that its
 * memory and CPU are its own), desk sockets, percentiles and CPU accounting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ensurePublication, ensureSlot } from '../server/capture/setup.ts';
import { parseSyncRules, type SyncRules } from '../server/config/rules.ts';
import type { NodeStatus } from '../test/support/ws-node.ts';
import { startBenchPostgres, type BenchPostgres } from './support/postgres.ts';

export const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-00';
const NODE = fileURLToPath(new URL('../test/support/ws-node.ts', import.meta.url));

export function numberArg(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

export interface BenchDatabase extends BenchPostgres {
  rules: SyncRules;
}

/** An embedded cluster in a temp dir with a migrated `bench` database, publication and slot. */
export async function startBenchDatabase(): Promise<BenchDatabase> {
  const postgres = await startBenchPostgres({
    name: 'bench-ws',
    flags: ['-c', 'fsync=off', '-c', 'shared_buffers=256MB', '-c', 'max_connections=300'],
    poolMax: 8,
  });
  const rules = parseSyncRules({ capture: { standbyPollMs: 200 } });
  await ensurePublication(postgres.pool, rules);
  await ensureSlot(postgres.pool, rules.capture.slotName);
  return { ...postgres, rules };
}

/** A server node (test/support/ws-node.ts) in a child process, with its latest status line. */
export class BenchNode {
  /** The last status line (a bare server's lines have port, pid and rssKb only). */
  status: NodeStatus | null = null;
  private constructor(readonly child: ChildProcess) {}

  static async start(
    databaseUrl: string,
    options: {
      capture?: boolean;
      rules?: unknown;
      socket?: unknown;
      script?: string;
      nodeArgs?: string[];
    } = {},
  ): Promise<BenchNode> {
    const child = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), '--import', 'tsx', options.script ?? NODE],
      {
        env: {
          ...process.env,
          NODE_DATABASE_URL: databaseUrl,
          NODE_JWT_SECRET: JWT_SECRET,
          NODE_CAPTURE: options.capture === true ? '1' : '0',
          NODE_RULES: JSON.stringify(options.rules ?? { capture: { standbyPollMs: 200 } }),
          NODE_SOCKET: JSON.stringify(options.socket ?? {}),
          NODE_STATUS_MS: '500',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const node = new BenchNode(child);
    const lines = createInterface({ input: child.stdout });
    const first = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
      lines.on('line', (line) => {
        if (!line.startsWith('{')) return;
        node.status = JSON.parse(line) as NodeStatus;
        resolve();
      });
    });
    await first;
    return node;
  }

  get port(): number {
    return this.status!.port;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/api/sync/ws`;
  }

  /** CPU seconds (user + system) the node has used so far. */
  cpuSeconds(): number {
    return processCpuSeconds(this.child.pid!);
  }

  /** Asks the process for a full GC (when started with --expose-gc) and waits for a fresh status line. */
  async collect(): Promise<number> {
    this.child.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 1500));
    return this.status?.rssKb ?? 0;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

const CLOCK_TICKS = 100;

export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** CPU seconds of the cluster whose postmaster runs on `dataDir`: the postmaster and its live children. */
export function postgresCpuSeconds(dataDir: string): number {
  let postmaster = 0;
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (postmaster === 0 && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dataDir)) {
        postmaster = Number(entry);
      }
    } catch {
      // Gone meanwhile.
    }
  }
  let total = 0;
  for (const [pid, parent] of parents) {
    if (pid === postmaster || (postmaster !== 0 && parent === postmaster)) total += processCpuSeconds(pid);
  }
  return total;
}

/** CPU of this process (the load generator) in seconds. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * CPU seconds of the calling thread alone (not its workers), from Linux's /proc/thread-self/stat: user and
 * system clock ticks, at 100 a second.
 */
export function threadCpuSeconds(): number {
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function sortedOf(values: readonly number[] | Float64Array): Float64Array {
  return Float64Array.from(values).sort();
}

/** Opens a desk socket and sends its hello; resolves once the socket is open. */
export function openDesk(
  wsUrl: string,
  token: string,
  clientId: string,
  onMessage: (data: Buffer) => void,
): Promise<WebSocket> {
  const ws = new WebSocket(wsUrl, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  });
  ws.on('message', (data) => onMessage(data as Buffer));
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.send(JSON.stringify({ type: 'hello', clientId, cursor: null }));
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

/** Opens `count` sockets, `parallel` at a time; a refused connection (a full accept queue) is retried. */
export async function openMany<T>(
  count: number,
  parallel: number,
  open: (i: number) => Promise<T>,
): Promise<T[]> {
  const opened: T[] = [];
  for (let i = 0; i < count; i += parallel) {
    const wave = await Promise.all(
      Array.from({ length: Math.min(parallel, count - i) }, (_, j) => withRetries(() => open(i + j))),
    );
    opened.push(...wave);
  }
  return opened;
}

async function withRetries<T>(attempt: () => Promise<T>, tries = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= tries || (error as { code?: string }).code !== 'ECONNREFUSED') throw error;
      await new Promise((r) => setTimeout(r, 100 * i));
    }
  }
}

export async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}
