import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Env } from './env.ts';

/**
 * Where a server on a developer's machine keeps the secret it generated when SYNC_JWT_SECRET is unset:
 * `<SYNC_DATA_DIR>/jwt-secret`, mode 0600, one line. `sync-admin` on the same folder signs with it.
 */
export const JWT_SECRET_FILE = 'jwt-secret';

const MIN_SECRET_LENGTH = 32;

export function jwtSecretPath(dataDir: string): string {
  return join(dataDir, JWT_SECRET_FILE);
}

/** The secret the server signs with, and where it came from (for its start-up line). */
export interface ServerSecret {
  secret: string;
  /** `SYNC_JWT_SECRET`, or the path of the file generated (or reused) under the data folder. */
  source: string;
  generated: boolean;
}

/** Hosts that only this machine can reach: the only ones a server without SYNC_JWT_SECRET may bind. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare);
}

/**
 * SYNC_JWT_SECRET, or — only for a server that binds a loopback address and runs the embedded database,
 * which nobody else can reach — a random secret kept under the data folder and reused on the next start.
 * Anything else without SYNC_JWT_SECRET is a ConfigError: no token is ever signed with a known secret.
 */
export function serverJwtSecret(env: Env): ServerSecret {
  if (env.jwtSecret !== undefined)
    return { secret: env.jwtSecret, source: 'SYNC_JWT_SECRET', generated: false };
  const reasons = [
    ...(isLoopbackHost(env.host) ? [] : [`HOST is ${env.host}, not a loopback address`]),
    ...(env.databaseUrl === undefined ? [] : ['DATABASE_URL is set']),
  ];
  if (reasons.length > 0) {
    throw new ConfigError('environment', [
      `SYNC_JWT_SECRET: is required when ${reasons.join(' and ')}. Set it to a random secret of ` +
        `${MIN_SECRET_LENGTH} or more characters, the same for every server node and for sync-admin, e.g. ` +
        `export SYNC_JWT_SECRET="$(openssl rand -base64 48)". (Without it, only a server on 127.0.0.1 with ` +
        `the embedded database runs, with a secret it generates under SYNC_DATA_DIR.)`,
    ]);
  }
  const path = jwtSecretPath(env.dataDir);
  const stored = readJwtSecretFile(env.dataDir);
  if (stored !== undefined) return { secret: stored, source: path, generated: false };
  mkdirSync(env.dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(48).toString('base64url');
  try {
    // 'wx': two servers starting on one folder never overwrite each other's secret; the loser reads it.
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const winner = readJwtSecretFile(env.dataDir);
    if (winner === undefined) throw new Error(`${path} exists but holds no secret`, { cause: error });
    return { secret: winner, source: path, generated: false };
  }
  return { secret, source: path, generated: true };
}

/**
 * The secret a server generated under `dataDir`, or undefined when there is none. A file others may read
 * is refused rather than trusted: anyone who read it could sign an admin token.
 */
export function readJwtSecretFile(dataDir: string): string | undefined {
  const path = jwtSecretPath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if ((statSync(path).mode & 0o077) !== 0) {
    throw new ConfigError('environment', [
      `SYNC_JWT_SECRET: ${path} is readable by other users; run chmod 600 ${path} (or delete it: a new ` +
        `secret is generated and tokens signed with the old one stop working)`,
    ]);
  }
  const secret = text.trim();
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError('environment', [
      `SYNC_JWT_SECRET: ${path} holds fewer than ${MIN_SECRET_LENGTH} characters; delete it to generate a new one`,
    ]);
  }
  return secret;
}
