import type { Role } from '../../shared/protocol.ts';
import type { Pool } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import type { TokenRevocations } from './revocations.ts';
import { verifyToken } from './tokens.ts';

/** Who is calling: from a verified token whose tenant exists. The tenant of a request is always this one. */
export interface Auth {
  tenantId: string;
  sub: string;
  role: Role;
  /** The token's `jti` (a registered, revocable desk token), or null for a token without one. */
  tokenId: string | null;
}

/**
 * Which tenants exist. Positive answers are remembered for `ttlMs` so the hot path does not query per
 * request; negative ones are not, so a tenant created a moment ago is accepted at once.
 */
export class TenantDirectory {
  readonly #known = new Map<string, number>();

  constructor(
    private readonly pool: Pool,
    private readonly ttlMs = 30_000,
  ) {}

  async exists(tenantId: string): Promise<boolean> {
    const now = Date.now();
    const until = this.#known.get(tenantId);
    if (until !== undefined && until > now) return true;
    this.#known.delete(tenantId);
    const result = await this.pool.query({
      name: 'tenant-exists',
      text: 'SELECT 1 FROM tenants WHERE id = $1',
      values: [tenantId],
    });
    if (result.rowCount === 0) return false;
    this.#known.set(tenantId, now + this.ttlMs);
    return true;
  }
}

/**
 * Turns a bearer token into the caller: 401 (UNAUTHORIZED, TOKEN_EXPIRED) without a valid token, 401
 * TOKEN_REVOKED for a token with a `jti` that is revoked or not registered, 403 UNKNOWN_TENANT when its
 * tenant does not exist. Tokens without a `jti` (people's, desks' signed before registration) are not
 * revocable. Shared by the /api hook and anything that authenticates on its own terms (a socket that must
 * close with 4401 rather than answer 401).
 */
export class Authenticator {
  constructor(
    private readonly jwtSecret: string,
    private readonly tenants: TenantDirectory,
    readonly revocations: TokenRevocations,
  ) {}

  async authenticate(token: string | null): Promise<Auth> {
    if (token === null) {
      throw new SyncError('UNAUTHORIZED', 'an Authorization: Bearer <token> header is required');
    }
    const claims = await verifyToken(this.jwtSecret, token);
    if (claims.jti !== undefined) await this.revocations.check(claims.jti, claims.tenantId);
    if (!(await this.tenants.exists(claims.tenantId))) {
      throw new SyncError('UNKNOWN_TENANT', 'the token names a tenant that does not exist');
    }
    return { tenantId: claims.tenantId, sub: claims.sub, role: claims.role, tokenId: claims.jti ?? null };
  }
}
