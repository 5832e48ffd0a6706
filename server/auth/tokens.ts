import { errors, jwtVerify, SignJWT } from 'jose';
import { tokenClaimsSchema, type Role, type TokenClaims } from '../../shared/protocol.ts';
import { SyncError } from '../errors.ts';

const ALGORITHM = 'HS256';

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Parses a duration such as `30s`, `15m`, `8h`, `30d` into seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (!match) throw new SyncError('BAD_REQUEST', `invalid duration "${text}" (use e.g. 30s, 15m, 8h, 30d)`);
  const units = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
  return Number(match[1]) * units[match[2] as keyof typeof units];
}

/** Signs a token for `ttlSeconds`; with `jti`, a revocable one (its id must be registered in desk_tokens). */
export async function signToken(
  secret: string,
  claims: { sub: string; tenantId: string; role: Role; jti?: string },
  ttlSeconds: number,
): Promise<string> {
  const jwt = new SignJWT({ tenantId: claims.tenantId, role: claims.role })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (claims.jti !== undefined) jwt.setJti(claims.jti);
  return jwt.sign(key(secret));
}

/** Verifies signature, algorithm and expiry, then the claims' shape. Every failure is a 401 SyncError. */
export async function verifyToken(secret: string, token: string): Promise<TokenClaims> {
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, key(secret), {
      algorithms: [ALGORITHM],
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (cause) {
    if (cause instanceof errors.JWTExpired)
      throw new SyncError('TOKEN_EXPIRED', 'token has expired', undefined, { cause });
    throw new SyncError(
      'UNAUTHORIZED',
      'token is missing, malformed or not signed by this server',
      undefined,
      { cause },
    );
  }
  const claims = tokenClaimsSchema.safeParse(payload);
  if (!claims.success) {
    throw new SyncError(
      'UNAUTHORIZED',
      `token claims are invalid: ${claims.error.issues.map((i) => i.path.join('.')).join(', ')}`,
    );
  }
  return claims.data;
}
