import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeEmbeddedUrl } from '../server/admin/embedded-url.ts';
import { verifyToken } from '../server/auth/tokens.ts';
import { loadEnv } from '../server/config/env.ts';
import { serverJwtSecret } from '../server/config/jwt-secret.ts';
import { freePort } from '../server/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { runSyncAdmin, type ProcessRun } from './support/run-process.ts';

const SECRET = 'admin-cli-test-secret-0123456789abcdef';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JWT_LINE = /^[\w-]+\.[\w-]+\.[\w-]+\n$/;

/** Runs the real command (bin launcher, tsx, child process) from a folder that is not the repository. */
function sync(args: string[], env: Record<string, string | undefined>): Promise<ProcessRun> {
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SYNC_DATA_DIR: dataDir,
  };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = value;
  }
  return runSyncAdmin(args, { cwd: dataDir, env: childEnv });
}

let db: TestDatabase;
let dataDir: string;
let withDb: Record<string, string>;

async function tenantCount(): Promise<number> {
  const result = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants');
  return result.rows[0]!.n;
}

async function createTenant(name: string): Promise<string> {
  const run = await sync(['tenant', 'create', '--name', name], withDb);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trim();
}

describe('sync-admin', () => {
  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'sync-admin-'));
    withDb = { DATABASE_URL: db.url, SYNC_JWT_SECRET: SECRET };
  });
  afterAll(async () => {
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('tenant create prints only the new id, which exists in tenants with its name', async () => {
    const run = await sync(['tenant', 'create', '--name', 'Lycée Victor Hugo'], withDb);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    const id = run.stdout.trim();
    expect(id).toMatch(UUID);
    const row = await db.pool.query<{ name: string }>('SELECT name FROM tenants WHERE id = $1', [id]);
    expect(row.rows).toEqual([{ name: 'Lycée Victor Hugo' }]);
  });

  it('tenant create applies the migrations first, so it works on a fresh database', async () => {
    const fresh = await createTestDatabase({ migrated: false });
    try {
      const run = await sync(['tenant', 'create', '--name', 'First school'], {
        ...withDb,
        DATABASE_URL: fresh.url,
      });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim()).toMatch(UUID);
      expect(run.stderr).toContain('applied migrations: 001_schema');
      const row = await fresh.pool.query('SELECT 1 FROM tenants WHERE id = $1', [run.stdout.trim()]);
      expect(row.rowCount).toBe(1);
    } finally {
      await fresh.drop();
    }
  });

  it('tenant list shows every tenant, as a table by default and as JSON with --json', async () => {
    const id = await createTenant('École Jules Ferry');
    const table = await sync(['tenant', 'list'], withDb);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+CREATED$/);
    const line = lines.find((l) => l.startsWith(id));
    expect(line).toMatch(/^[0-9a-f-]{36} {2}École Jules Ferry\s+\d{4}-\d\d-\d\dT/);
    expect(lines).toHaveLength(1 + (await tenantCount()));

    const json = await sync(['tenant', 'list', '--json'], withDb);
    expect(json.code, json.stderr).toBe(0);
    const tenants = JSON.parse(json.stdout) as { id: string; name: string; createdAt: string }[];
    expect(tenants).toHaveLength(await tenantCount());
    expect(tenants).toContainEqual({
      id,
      name: 'École Jules Ferry',
      createdAt: expect.any(String) as string,
    });
  });

  it('token prints only a JWT that verifyToken accepts, with the tenant, role, sub and --ttl expiry', async () => {
    const tenantId = await createTenant('Token school');
    const run = await sync(
      ['token', '--tenant', tenantId.toUpperCase(), '--role', 'dba', '--ttl', '90m', '--sub', 'user-42'],
      withDb,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(JWT_LINE);
    expect(run.stderr).toBe('');
    const jwt = run.stdout.trim();
    const claims = await verifyToken(SECRET, jwt);
    expect(claims).toEqual({ sub: 'user-42', tenantId, role: 'dba', exp: expect.any(Number) as number });
    const { iat, exp } = decodeJwt(jwt);
    expect(exp! - iat!).toBe(90 * 60);
    expect(Math.abs(iat! - Date.now() / 1000)).toBeLessThan(60);
  });

  it('token defaults to sub "cli", a year for a desk (weeks offline must not lock it out), 8h for a person', async () => {
    const tenantId = await createTenant('Defaults school');
    const run = await sync(['token', '--tenant', tenantId, '--role', 'desk'], withDb);
    expect(run.code, run.stderr).toBe(0);
    const claims = await verifyToken(SECRET, run.stdout.trim());
    expect(claims).toMatchObject({ sub: 'cli', tenantId, role: 'desk' });
    const { iat, exp } = decodeJwt(run.stdout.trim());
    expect(exp! - iat!).toBe(365 * 24 * 3600);
    const admin = await sync(['token', '--tenant', tenantId, '--role', 'admin'], withDb);
    expect(admin.code, admin.stderr).toBe(0);
    const lifetime = decodeJwt(admin.stdout.trim());
    expect(lifetime.exp! - lifetime.iat!).toBe(8 * 3600);
  });

  it('token for a tenant that does not exist fails with exit 1, names it, and prints no token', async () => {
    const missing = '00000000-0000-4000-8000-00000000dead';
    const run = await sync(['token', '--tenant', missing, '--role', 'desk'], withDb);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`tenant ${missing} does not exist`);
  });

  it('a bad command line exits 2 with a message naming the problem, and changes nothing', async () => {
    const tenantId = await createTenant('Usage school');
    const before = await tenantCount();
    const cases: [string[], RegExp][] = [
      [[], /usage: sync-admin COMMAND/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['tenant'], /"tenant" needs a subcommand: create, list/],
      [['tenant', 'delete'], /unknown command "tenant delete"/],
      [['tenant', 'create'], /--name is required/],
      [['tenant', 'create', '--name'], /--name/],
      [['tenant', 'create', '--name', '   '], /--name is required/],
      [['tenant', 'create', '--name', 'X', '--colour', 'red'], /Unknown option '--colour'/],
      [['tenant', 'list', 'extra'], /Unexpected argument 'extra'/],
      [['token', '--role', 'desk'], /--tenant is required/],
      [['token', '--tenant', tenantId], /--role is required/],
      [
        ['token', '--tenant', 'school-1', '--role', 'desk'],
        /--tenant must be a tenant id \(a UUID\), got "school-1"/,
      ],
      [
        ['token', '--tenant', tenantId, '--role', 'root'],
        /--role must be one of desk, admin, dba, got "root"/,
      ],
      [['token', '--tenant', tenantId, '--role', 'desk', '--ttl', '2w'], /--ttl: invalid duration "2w"/],
      [['token', '--tenant', tenantId, '--role', 'desk', '--ttl', '0h'], /--ttl must be longer than zero/],
      [['help', 'nothing'], /no command "nothing"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => sync(args, withDb)));
    runs.forEach((run, i) => {
      const [args, message] = cases[i]!;
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr, args.join(' ')).toMatch(message);
    });
    expect(await tenantCount()).toBe(before);
  });

  it('without SYNC_JWT_SECRET, token refuses to sign for a DATABASE_URL server, naming the variable', async () => {
    const tenantId = await createTenant('No secret school');
    const run = await sync(['token', '--tenant', tenantId, '--role', 'admin'], {
      DATABASE_URL: db.url,
      SYNC_JWT_SECRET: undefined,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/SYNC_JWT_SECRET is not set/);
  });

  it('without SYNC_JWT_SECRET or DATABASE_URL, token signs with the secret the server generated under SYNC_DATA_DIR', async () => {
    const tenantId = await createTenant('Generated secret school');
    const serverDir = mkdtempSync(join(tmpdir(), 'sync-admin-secret-'));
    try {
      const missing = await sync(['token', '--tenant', tenantId, '--role', 'admin'], {
        SYNC_DATA_DIR: serverDir,
        SYNC_JWT_SECRET: undefined,
      });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/no server has generated a secret under/);
      writeEmbeddedUrl(serverDir, db.url);
      const { secret } = serverJwtSecret(loadEnv({ SYNC_DATA_DIR: serverDir }));
      const run = await sync(['token', '--tenant', tenantId, '--role', 'admin'], {
        SYNC_DATA_DIR: serverDir,
        SYNC_JWT_SECRET: undefined,
      });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(JWT_LINE);
      await expect(verifyToken(secret, run.stdout.trim())).resolves.toMatchObject({
        tenantId,
        role: 'admin',
      });
    } finally {
      rmSync(serverDir, { recursive: true, force: true });
    }
  });

  it('an invalid environment exits 2 naming the variable', async () => {
    const run = await sync(['tenant', 'list'], { ...withDb, SYNC_JWT_SECRET: 'too-short' });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('SYNC_JWT_SECRET');
  });

  it('without DATABASE_URL, it works on the database a running server recorded under SYNC_DATA_DIR', async () => {
    const id = await createTenant('Embedded school');
    const serverDir = mkdtempSync(join(tmpdir(), 'sync-admin-server-'));
    try {
      writeEmbeddedUrl(serverDir, db.url);
      const run = await sync(['tenant', 'list', '--json'], {
        SYNC_DATA_DIR: serverDir,
        SYNC_JWT_SECRET: SECRET,
      });
      expect(run.code, run.stderr).toBe(0);
      expect((JSON.parse(run.stdout) as { id: string }[]).map((t) => t.id)).toContain(id);
    } finally {
      rmSync(serverDir, { recursive: true, force: true });
    }
  });

  it('without DATABASE_URL and no running server, it says to set DATABASE_URL or start the server', async () => {
    const run = await sync(['tenant', 'list'], { SYNC_JWT_SECRET: SECRET });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/DATABASE_URL is not set and no running server was found/);
    expect(run.stderr).toMatch(/Set DATABASE_URL, or start the server with "npm start"/);
  });

  it('a database-url left by a server that is gone is reported as "not running" (exit 1)', async () => {
    const serverDir = mkdtempSync(join(tmpdir(), 'sync-admin-server-'));
    try {
      writeEmbeddedUrl(serverDir, `postgres://postgres:pw@127.0.0.1:${await freePort()}/school_sync`);
      const run = await sync(['tenant', 'list'], { SYNC_DATA_DIR: serverDir, SYNC_JWT_SECRET: SECRET });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/the server that wrote .*database-url is not running/);
      expect(run.stderr).not.toContain(':pw@');
    } finally {
      rmSync(serverDir, { recursive: true, force: true });
    }
  });

  it('database failures exit 1 with a message that says what failed, never the password', async () => {
    const closed = `postgres://someone:s3cret@127.0.0.1:${await freePort()}/nowhere`;
    const refused = await sync(['tenant', 'list'], { ...withDb, DATABASE_URL: closed });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /cannot connect to postgres:\/\/someone@127\.0\.0\.1:\d+\/nowhere \(from DATABASE_URL\)/,
    );
    expect(refused.stderr).not.toContain('s3cret');

    const fresh = await createTestDatabase({ migrated: false });
    try {
      const unmigrated = await sync(['tenant', 'list'], { ...withDb, DATABASE_URL: fresh.url });
      expect(unmigrated.code).toBe(1);
      expect(unmigrated.stderr).toMatch(/has no sync schema yet/);
    } finally {
      await fresh.drop();
    }
  });

  it('help and --help print usage on stdout and exit 0', async () => {
    const general = await sync(['help'], {});
    expect(general.code).toBe(0);
    for (const command of ['tenant create --name NAME', 'tenant list [--json]', 'token --tenant ID']) {
      expect(general.stdout).toContain(command);
    }
    const token = await sync(['token', '--help'], {});
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^usage: sync-admin token --tenant ID --role desk\|admin\|dba/);
  });
});
