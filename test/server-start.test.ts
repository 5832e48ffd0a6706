import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { runSyncAdmin, type ProcessRun } from './support/run-process.ts';

const ROOT = join(import.meta.dirname, '..');
const SECRET = 'server-start-test-secret-0123456789abcdef';

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `npm start` as a school runs it: `tsx server/main.ts`, with only the given environment. */
function start(env: Record<string, string>): Started {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** The real `sync-admin` (bin launcher), with only the given environment. */
function syncAdmin(args: string[], env: Record<string, string>): Promise<ProcessRun> {
  return runSyncAdmin(args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
}

/**
 * The listening line. A start that creates a logical slot waits for the transactions running meanwhile in
 * the whole cluster (other test files') to end, which Postgres learns from a record written every 15 s.
 */
async function listening(started: Started): Promise<string> {
  const line = await waitFor(() => /listening on (http:\/\/\S+)/.exec(started.output())?.[1], {
    timeoutMs: 90_000,
    message: 'the listening line',
  }).catch((error: unknown) => {
    throw new Error(`no listening line; the server printed:\n${started.output()}`, { cause: error });
  });
  return line;
}

/** SIGTERM, then the exit status; a server that does not stop within 30 s fails with what it printed. */
async function stopped(run: Started): Promise<number | null> {
  run.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`the server did not stop within 30 s of SIGTERM; it printed:\n${run.output()}`));
    }, 30_000);
  });
  try {
    return await Promise.race([run.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('npm start', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
    dir = mkdtempSync(join(tmpdir(), 'sync-start-'));
    // As root the embedded cluster runs as the postgres user, which must be able to traverse into it.
    chmodSync(dir, 0o755);
  });
  afterAll(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a bad environment stops start-up naming every bad variable', async () => {
    const run = start({ PORT: 'eighty', SYNC_JWT_SECRET: 'short', DATABASE_URL: 'mysql://x' });
    expect(await run.exited).toBe(2);
    for (const name of ['PORT', 'SYNC_JWT_SECRET', 'DATABASE_URL']) expect(run.output()).toContain(name);
  });

  it('a bad sync-rules file stops start-up naming every bad key', async () => {
    const file = join(dir, 'rules.json');
    writeFileSync(
      file,
      JSON.stringify({ entityTypes: ['STUDENT', 'SPACESHIP'], limits: { downMax: -1 }, colour: 'red' }),
    );
    const run = start({ SYNC_CONFIG: file, DATABASE_URL: db.url });
    expect(await run.exited).toBe(2);
    for (const key of ['entityTypes.1', 'limits.downMax', 'colour']) expect(run.output()).toContain(key);
  });

  it('with DATABASE_URL it migrates, prints the listening line, serves, and stops cleanly on SIGTERM', async () => {
    const slot = `slot_${db.name}`;
    const file = join(dir, 'rules-b3.json');
    writeFileSync(file, JSON.stringify({ capture: { slotName: slot } }));
    const run = start({ DATABASE_URL: db.url, PORT: '0', SYNC_CONFIG: file, SYNC_JWT_SECRET: SECRET });
    const url = await listening(run);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const slots = await db.pool.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    expect(slots.rows).toEqual([{ active: false }]);
  }, 120_000);

  it('a slot dropped while the server was down is recreated at start and every desk is sent to a snapshot, never silently', async () => {
    const slot = `slot_${db.name}`;
    const file = join(dir, 'rules-b5.json');
    writeFileSync(file, JSON.stringify({ capture: { slotName: slot } }));
    // B3 ran capture on this slot: its progress row exists. Drop the slot while no server runs.
    const tenant = randomUUID();
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'B5')`, [tenant]);
    await db.pool.query('SELECT pg_drop_replication_slot($1)', [slot]);
    const before = await db.pool.query('SELECT epoch FROM sync_tenant_log WHERE tenant_id = $1', [tenant]);
    expect(before.rows).toEqual([]);

    const b5 = { DATABASE_URL: db.url, PORT: '0', SYNC_CONFIG: file, SYNC_JWT_SECRET: SECRET };
    const run = start({ ...b5, LOG_LEVEL: 'info' });
    await listening(run);
    const epoch = await db.pool.query<{ epoch: number; reason: string }>(
      'SELECT epoch, reason FROM sync_tenant_log WHERE tenant_id = $1',
      [tenant],
    );
    expect(epoch.rows).toEqual([{ epoch: 1, reason: 'replication slot missing: recreated' }]);
    expect(run.output()).toMatch(/replication slot missing: .*sending every desk to a snapshot/);
    const slots = await db.pool.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    expect(slots.rowCount).toBe(1);
    expect(await stopped(run)).toBe(0);

    // A restart with the slot in place changes nothing.
    const again = start({ ...b5, LOG_LEVEL: 'info' });
    await listening(again);
    expect(await stopped(again)).toBe(0);
    const after = await db.pool.query('SELECT epoch FROM sync_tenant_log WHERE tenant_id = $1', [tenant]);
    expect(after.rows).toEqual([{ epoch: 1 }]);
  }, 180_000);

  it('without SYNC_JWT_SECRET it refuses to listen on 0.0.0.0, naming the variable and how to set it', async () => {
    const dataDir = join(dir, 'data-b6');
    const run = start({ SYNC_DATA_DIR: dataDir, PORT: '0', HOST: '0.0.0.0' });
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(
      /SYNC_JWT_SECRET: is required when HOST is 0\.0\.0\.0, not a loopback address/,
    );
    expect(run.output()).toContain('openssl rand');
    expect(existsSync(join(dataDir, 'jwt-secret'))).toBe(false);
  });

  it('without SYNC_JWT_SECRET it refuses a DATABASE_URL, even on 127.0.0.1', async () => {
    const run = start({ DATABASE_URL: db.url, PORT: '0' });
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/SYNC_JWT_SECRET: is required when DATABASE_URL is set/);
  });

  it('without DATABASE_URL it runs an embedded Postgres under SYNC_DATA_DIR whose data survives a restart', async () => {
    const dataDir = join(dir, 'data');
    const first = start({ SYNC_DATA_DIR: dataDir, PORT: '0' });
    await listening(first);
    const databaseUrl = readFileSync(join(dataDir, 'database-url'), 'utf8').trim();
    const tenant = randomUUID();
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Kept')`, [tenant]);
    const wal = await client.query<{ wal_level: string }>('SHOW wal_level');
    expect(wal.rows[0]?.wal_level).toBe('logical');
    await client.end();
    const secretFile = join(dataDir, 'jwt-secret');
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const secret = readFileSync(secretFile, 'utf8');
    expect(secret.trim().length).toBeGreaterThanOrEqual(32);
    expect(first.output()).toContain('SYNC_JWT_SECRET is not set');
    first.child.kill('SIGTERM');
    expect(await first.exited, first.output()).toBe(0);

    const second = start({ SYNC_DATA_DIR: dataDir, PORT: '0' });
    const url = await listening(second);
    expect(readFileSync(secretFile, 'utf8')).toBe(secret);
    // sync-admin on the same folder, without SYNC_JWT_SECRET, signs with the server's generated secret.
    const signed = await syncAdmin(['token', '--tenant', tenant, '--role', 'admin'], {
      SYNC_DATA_DIR: dataDir,
    });
    expect(signed.code, signed.stderr).toBe(0);
    const down = await fetch(`${url}/api/sync/down`, {
      method: 'POST',
      headers: { authorization: `Bearer ${signed.stdout.trim()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'b4', cursor: null }),
    });
    expect(down.status).toBe(200);
    const again = new pg.Client({
      connectionString: readFileSync(join(dataDir, 'database-url'), 'utf8').trim(),
    });
    await again.connect();
    const kept = await again.query('SELECT name FROM tenants WHERE id = $1', [tenant]);
    await again.end();
    expect(kept.rows).toEqual([{ name: 'Kept' }]);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.output()).toBe(0);
  }, 120_000);
});
