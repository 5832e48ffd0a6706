import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../server/config/env.ts';
import { isLoopbackHost, jwtSecretPath, serverJwtSecret } from '../server/config/jwt-secret.ts';
import { startServer } from '../server/server.ts';
import { parseSyncRules } from '../server/config/rules.ts';
import { silentLog } from './support/db.ts';

describe('the server JWT secret', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'sync-secret-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('has no built-in value: loadEnv leaves it unset', () => {
    expect(loadEnv({}).jwtSecret).toBeUndefined();
  });

  it('SYNC_JWT_SECRET wins and writes nothing', () => {
    const secret = 'a-real-secret-of-more-than-32-chars!!';
    const env = loadEnv({ SYNC_JWT_SECRET: secret, HOST: '0.0.0.0', SYNC_DATA_DIR: dataDir });
    expect(serverJwtSecret(env)).toEqual({ secret, source: 'SYNC_JWT_SECRET', generated: false });
    expect(() => statSync(jwtSecretPath(dataDir))).toThrow();
  });

  it('without it, a server on 0.0.0.0 refuses, naming SYNC_JWT_SECRET and how to set it', async () => {
    const env = loadEnv({ HOST: '0.0.0.0', SYNC_DATA_DIR: dataDir });
    expect(() => serverJwtSecret(env)).toThrow(ConfigError);
    expect(() => serverJwtSecret(env)).toThrow(
      /SYNC_JWT_SECRET: is required when HOST is 0\.0\.0\.0.*openssl rand/s,
    );
    // startServer refuses before it starts anything (no embedded Postgres under the folder).
    await expect(startServer(env, parseSyncRules({}), silentLog)).rejects.toThrow(ConfigError);
    expect(() => statSync(join(dataDir, 'pg'))).toThrow();
  });

  it('without it, a server with DATABASE_URL refuses, even on loopback', async () => {
    const env = loadEnv({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', SYNC_DATA_DIR: dataDir });
    expect(() => serverJwtSecret(env)).toThrow(/SYNC_JWT_SECRET: is required when DATABASE_URL is set/);
    await expect(startServer(env, parseSyncRules({}), silentLog)).rejects.toThrow(ConfigError);
  });

  it('embedded and loopback: a random secret is generated into a 0600 file and reused on the next start', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'school.local'])
      expect(isLoopbackHost(host)).toBe(false);
    const env = loadEnv({ SYNC_DATA_DIR: join(dataDir, 'data') });
    const first = serverJwtSecret(env);
    expect(first.generated).toBe(true);
    expect(first.secret.length).toBeGreaterThanOrEqual(32);
    expect(first.source).toBe(jwtSecretPath(env.dataDir));
    expect(statSync(first.source).mode & 0o777).toBe(0o600);
    expect(readFileSync(first.source, 'utf8').trim()).toBe(first.secret);
    const second = serverJwtSecret(env);
    expect(second).toEqual({ ...first, generated: false });
    // Another folder, another secret: it is random, not derived.
    expect(serverJwtSecret(loadEnv({ SYNC_DATA_DIR: join(dataDir, 'other') })).secret).not.toBe(first.secret);
  });

  it('a secret file others can read is refused rather than trusted', () => {
    const env = loadEnv({ SYNC_DATA_DIR: dataDir });
    serverJwtSecret(env);
    chmodSync(jwtSecretPath(dataDir), 0o644);
    expect(() => serverJwtSecret(env)).toThrow(/readable by other users.*chmod 600/);
  });
});
