import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The `sync-admin` bin launcher (bin/sync-admin.mjs). */
export const SYNC_ADMIN_BIN = fileURLToPath(new URL('../../bin/sync-admin.mjs', import.meta.url));

/** How a finished child process ended: its exit code and all it wrote. */
export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Exactly the environment the child gets (nothing of this process's is added). */
  env: NodeJS.ProcessEnv;
  /** Default: this process's working directory. */
  cwd?: string;
  /** `'pipe'` (default): a pipe that stays open; `'ignore'`: /dev/null, at end of input at once. */
  stdin?: 'pipe' | 'ignore';
}

/** Runs `command` with `args` to its end, collecting stdout and stderr as UTF-8 text. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The real `sync-admin` command (bin launcher, tsx, child process) run by this Node. */
export function runSyncAdmin(args: readonly string[], options: RunOptions): Promise<ProcessRun> {
  return runProcess(process.execPath, [SYNC_ADMIN_BIN, ...args], options);
}

/**
 * The arguments of `sync-admin token` signing a desk token of `tenantId` registered as `desk`, signed by
 * `by`, with `extra` options (`--ttl`, `--sub` …) after them.
 */
export function deskTokenArgs(tenantId: string, desk: string, by: string, ...extra: string[]): string[] {
  return ['token', '--tenant', tenantId, '--role', 'desk', '--desk', desk, '--by', by, ...extra];
}

/** Calls `handle` with the complete lines of each chunk of `stream` (UTF-8); a line a chunk cuts waits for its end. */
export function onLines(stream: Readable | null, handle: (lines: string[]) => void): void {
  let buffered = '';
  stream?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    handle(lines);
  });
}

/** Calls `keep` with the last `max` characters `stream` has written (UTF-8), each time it writes. */
export function onTail(stream: Readable | null, max: number, keep: (tail: string) => void): void {
  let tail = '';
  stream?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-max);
    keep(tail);
  });
}
