import { decodeJwt } from 'jose';
import { ENTITY_TYPES, type EntityType } from '../../shared/entities.ts';
import { wsClientMessageSchema, type Role, type WsClientMessage } from '../../shared/protocol.ts';
import type { SyncRules } from '../config/rules.ts';
import { SyncError } from '../errors.ts';
import type { Auth, Authenticator } from '../auth/authenticator.ts';
import { servedTypesFilter } from '../config/served-types.ts';
import { decodeCursor, type CursorPosition } from '../log/cursor.ts';

/** Roles that may hold the socket: the same as POST /api/sync/down. */
export const SOCKET_ROLES: readonly Role[] = ['desk', 'admin'];

/** A verified caller and when its token stops being valid (ms since the epoch). */
export interface SocketAuth extends Auth {
  expiresAt: number;
}

/** Verifies the bearer token of an upgrade. Throws a 401/403 SyncError (the socket closes 4401). */
export async function authenticateSocket(
  authenticator: Authenticator,
  token: string | null,
): Promise<SocketAuth> {
  const auth = await authenticator.authenticate(token);
  if (!SOCKET_ROLES.includes(auth.role)) {
    throw new SyncError('FORBIDDEN', `role ${auth.role} may not hold a sync socket`);
  }
  // Verified just above; only its expiry is read here.
  const { exp } = decodeJwt(token ?? '');
  if (typeof exp !== 'number') throw new SyncError('UNAUTHORIZED', 'the token has no expiry');
  return { ...auth, expiresAt: exp * 1000 };
}

/** A desk's hello, checked: where it starts and what it wants. */
export interface Hello {
  clientId: string;
  /** null: from the start of the log. */
  position: CursorPosition | null;
  /** null: every type the rules serve, unfiltered. */
  entityTypes: EntityType[] | null;
  /** Equal for desks that must get the same bytes. */
  filterKey: string;
}

/** Parses one client message; a BAD_REQUEST SyncError when it is not one of the protocol's. */
export function parseClientMessage(
  data: Buffer | ArrayBuffer | Buffer[],
  isBinary: boolean,
): WsClientMessage {
  if (isBinary) throw new SyncError('BAD_REQUEST', 'messages are JSON text frames');
  const text = Array.isArray(data)
    ? Buffer.concat(data).toString('utf8')
    : Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Buffer.from(data).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SyncError('INVALID_JSON', 'the message is not valid JSON');
  }
  const parsed = wsClientMessageSchema.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(message)');
    throw new SyncError('BAD_REQUEST', `invalid message: ${[...new Set(fields)].join(', ')}`);
  }
  return parsed.data;
}

/**
 * The hello's cursor and filter, checked like POST /api/sync/down checks them: INVALID_CURSOR for a cursor
 * this server never wrote, UNKNOWN_ENTITY_TYPE for a type the rules do not serve (both close 4400).
 */
export function checkHello(message: WsClientMessage, rules: SyncRules): Hello {
  if (message.type !== 'hello') throw new SyncError('BAD_REQUEST', 'the first message must be a hello');
  const entityTypes = servedTypesFilter(rules, message.entityTypes, ENTITY_TYPES);
  return {
    clientId: message.clientId,
    position: message.cursor === null ? null : decodeCursor(message.cursor),
    entityTypes: entityTypes === null ? null : [...entityTypes].sort(),
    filterKey: entityTypes === null ? '*' : [...entityTypes].sort().join(','),
  };
}
