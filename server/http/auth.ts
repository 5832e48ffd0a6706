import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../../shared/protocol.ts';
import type { Auth, Authenticator } from '../auth/authenticator.ts';
import { SyncError } from '../errors.ts';
import { must } from '../../shared/asserts.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the /api authentication hook; null on routes without a token (/healthz). */
    auth: Auth | null;
  }
}

/** The bearer token of a request: the Authorization header, or `?access_token=` on a WebSocket upgrade. */
export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1] ?? null;
  }
  if (request.headers.upgrade?.toLowerCase() === 'websocket') {
    const token = (request.query as Record<string, unknown> | undefined)?.access_token;
    if (typeof token === 'string' && token !== '') return token;
  }
  return null;
}

/** An onRequest hook that sets `request.auth`, or answers 401/403 before the body is even read. */
export function authenticate(authenticator: Authenticator) {
  return async (request: FastifyRequest): Promise<void> => {
    request.auth = await authenticator.authenticate(bearerToken(request));
  };
}

/** The authenticated caller; only for routes behind `authenticate`. */
export function authOf(request: FastifyRequest): Auth {
  return must(request.auth, () => `route ${request.routeOptions.url ?? '?'} is not behind authentication`);
}

type RoleCheck = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** Each requireRole hook and the roles it lets through, so that the API document says what it checks. */
const ROLE_CHECKS = new WeakMap<RoleCheck, readonly Role[]>();

/** A preHandler hook: 403 FORBIDDEN unless the caller has one of `roles`. */
export function requireRole(...roles: Role[]): RoleCheck {
  const check: RoleCheck = async (request, _reply): Promise<void> => {
    const { role } = authOf(request);
    if (!roles.includes(role)) {
      throw new SyncError('FORBIDDEN', `role ${role} may not call this route`, { allowedRoles: roles });
    }
  };
  ROLE_CHECKS.set(check, roles);
  return check;
}

/** The roles a route's requireRole lets through (its `preHandler` option); undefined without one. */
export function checkedRoles(preHandler: unknown): readonly Role[] | undefined {
  for (const hook of [preHandler].flat()) {
    const roles = typeof hook === 'function' ? ROLE_CHECKS.get(hook as RoleCheck) : undefined;
    if (roles !== undefined) return roles;
  }
  return undefined;
}
