import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The secret bench/down-server.ts signs with; the benches sign their desks' tokens with it too. */
export const BENCH_JWT_SECRET = 'bench-secret-bench-secret-bench-secret-00';

/** The sync server in its own process (bench/down-server.ts) on `databaseUrl`; resolves once it listens. */
export async function startDownServer(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'down-server.ts')], {
    env: { ...process.env, DATABASE_URL: databaseUrl, SYNC_JWT_SECRET: BENCH_JWT_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for await (const line of createInterface({ input: child.stdout })) {
    const { port } = JSON.parse(line) as { port: number };
    return { child, port };
  }
  throw new Error('bench server exited before listening');
}

/** A process's resident set size now, in KB; null once it has exited. */
export function readRssKb(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export interface RssSampler {
  samples: { at: number; kb: number }[];
  stop(): void;
}

/** Samples a process's RSS every `everyMs` until stop(). */
export function sampleRss(pid: number, everyMs: number): RssSampler {
  const samples: { at: number; kb: number }[] = [];
  const read = (): void => {
    const kb = readRssKb(pid);
    if (kb !== null) samples.push({ at: performance.now(), kb });
  };
  read();
  const timer = setInterval(read, everyMs);
  return { samples, stop: () => clearInterval(timer) };
}
