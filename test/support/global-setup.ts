import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../server/db/embedded.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a maintenance database on the test cluster; each test file creates its own database. */
    pgAdminUrl: string;
  }
}

/** One Postgres per test run: TEST_DATABASE_URL when given, else an embedded cluster in a temp dir. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.TEST_DATABASE_URL;
  if (given !== undefined && given !== '') {
    project.provide('pgAdminUrl', given);
    return async () => {};
  }
  const dir = mkdtempSync(join(tmpdir(), 'sync-test-pg-'));
  const pg = await startEmbeddedPostgres({
    dir,
    extraFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off'],
  });
  project.provide('pgAdminUrl', pg.connectionString);
  return async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
