import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import { Periodic } from '../ops/periodic.ts';
import type { Service } from '../service.ts';
import { readDeskToken, readRevokedTokenIds } from './desk-tokens.ts';

/** How often each node re-reads the revoked tokens: PROTOCOL.md promises every node refuses one within 5 s. */
export const REVOCATION_POLL_MS = 1000;

/**
 * This node's view of desk_tokens, so that a token with a `jti` costs no query per request. Invariant: a
 * token id is accepted only once its registration was read (with its tenant, not revoked), and a revocation
 * committed on any node is seen here within one poll, which re-reads the whole revoked set (a handful of
 * rows: only revoked tokens not yet expired) rather than "since", so no commit-time race can hide one.
 */
export class TokenRevocations implements Service {
  readonly name = 'token-revocations';
  readonly #loop: Periodic;
  #revoked = new Set<string>();
  /** Token ids read as registered (and then not revoked), with their tenant. */
  readonly #registered = new Map<string, string>();

  constructor(
    log: Logger,
    private readonly options: { pool: Pool; pollMs?: number },
  ) {
    this.#loop = new Periodic(log, {
      name: this.name,
      everyMs: options.pollMs ?? REVOCATION_POLL_MS,
      tick: () => this.refresh(),
    });
  }

  run(): Promise<void> {
    return this.#loop.run();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  /** Re-reads the revoked token ids. */
  async refresh(): Promise<void> {
    this.#revoked = new Set(await readRevokedTokenIds(this.options.pool));
  }

  /** Whether this node knows `jti` to be revoked (what the socket sweep asks each second). */
  isRevoked(jti: string): boolean {
    return this.#revoked.has(jti);
  }

  /** 401 TOKEN_REVOKED unless `jti` is registered for `tenantId` and not revoked. */
  async check(jti: string, tenantId: string): Promise<void> {
    if (this.#revoked.has(jti)) throw revoked('this desk token was revoked by an administrator');
    if (this.#registered.get(jti) === tenantId) return;
    const registration = await readDeskToken(this.options.pool, jti);
    if (registration === null || registration.tenantId !== tenantId) {
      throw revoked('this desk token is not registered with this server (sync-admin desk list)');
    }
    if (registration.revoked) {
      this.#revoked.add(jti);
      throw revoked('this desk token was revoked by an administrator');
    }
    this.#registered.set(jti, tenantId);
  }
}

function revoked(message: string): SyncError {
  return new SyncError('TOKEN_REVOKED', `${message}; ask for a new token`);
}
