import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { runProcess, type ProcessRun } from './support/run-process.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<ProcessRun> {
  return runProcess(command, args, { cwd: ROOT, env: { ...process.env, ...env } });
}

describe('sync-admin launchers', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  // `--no`: npx must find the package's own bin, never fetch a package of that name from the registry.
  it('npx sync-admin and npm run -s sync-admin pass arguments through, keep stdout to the result and forward the exit status', async () => {
    const env = { DATABASE_URL: db.url, SYNC_JWT_SECRET: 'launcher-test-secret-0123456789abcdef' };
    const launchers: [string, string[]][] = [
      ['npx', ['--no', 'sync-admin']],
      ['npm', ['run', '-s', 'sync-admin', '--']],
    ];
    for (const [command, prefix] of launchers) {
      const created = await run(command, [...prefix, 'tenant', 'create', '--name', `via ${command}`], env);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(/^[0-9a-f-]{36}\n$/);

      const bad = await run(command, [...prefix, 'tenant', 'create', '--nam', 'x'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("Unknown option '--nam'");
    }
    const names = await db.pool.query<{ name: string }>('SELECT name FROM tenants ORDER BY name');
    expect(names.rows.map((r) => r.name)).toEqual(['via npm', 'via npx']);
  });
});
