import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../server/db/embedded.ts';

/**
 * A newcomer is often root in a clone inside a 0700 folder. The embedded Postgres then runs as the
 * `postgres` user, which can enter neither the clone's node_modules nor its data folder: its programs are
 * copied and its cluster kept where that user can reach them.
 */
describe('the embedded Postgres in a folder closed to others', () => {
  const closed = mkdtempSync(join(tmpdir(), 'closed-home-'));
  const reachable = mkdtempSync(join(tmpdir(), 'school-sync-'));
  chmodSync(closed, 0o700);
  afterAll(() => {
    rmSync(closed, { recursive: true, force: true });
    rmSync(reachable, { recursive: true, force: true });
  });

  const wal = async (url: string): Promise<string> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
    } finally {
      await client.end();
    }
  };

  it('starts with wal_level=logical, says where its programs and cluster went (as root), and starts again on the same cluster', async () => {
    const options = {
      dir: join(closed, 'data'),
      reachableRoot: join(reachable, 'var-lib'),
      copyPrograms: true,
    };
    const first = await startEmbeddedPostgres(options);
    try {
      expect(await wal(first.connectionString)).toBe('logical');
      const client = new pg.Client({ connectionString: first.connectionString });
      await client.connect();
      await client.query('CREATE DATABASE kept');
      await client.end();
    } finally {
      await first.stop();
    }
    const root = process.getuid?.() === 0;
    if (root) {
      expect(first.dataDir.startsWith(join(reachable, 'var-lib', 'clusters'))).toBe(true);
      expect(first.notes.join('\n')).toMatch(/is closed to the "postgres" user.*cluster is kept in/);
      expect(first.notes.join('\n')).toMatch(/Postgres programs copied to .*var-lib\/postgres-/);
      // The data folder itself stays closed; the credentials stay in it.
      expect(statSync(closed).mode & 0o777).toBe(0o700);
      expect(existsSync(join(closed, 'data', 'credentials.json'))).toBe(true);
    } else {
      expect(first.dataDir).toBe(join(closed, 'data', 'pg'));
      expect(first.notes).toEqual([]);
    }
    const second = await startEmbeddedPostgres(options);
    try {
      expect(second.dataDir).toBe(first.dataDir);
      expect(await wal(second.databaseUrl('kept'))).toBe('logical');
    } finally {
      await second.stop();
    }
  });
});
