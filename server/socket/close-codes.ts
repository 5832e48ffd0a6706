import { WS_CLOSE } from '../../shared/protocol.ts';

/**
 * Close codes of /api/sync/ws: the protocol's (shared/protocol.ts WS_CLOSE) and the standard ones this
 * server also uses. A desk reconnects after any of the standard ones and resumes from its cursor.
 */
export const CLOSE = {
  ...WS_CLOSE,
  /** The server is shutting down. */
  GOING_AWAY: 1001,
  /** The server could not serve the desk (database unreachable …). */
  INTERNAL: 1011,
  /** The desk stayed paused (its socket buffer full) longer than allowed: reconnect and catch up. */
  TOO_SLOW: 1013,
  /** Its tenant has as many sockets open on this node as the rules allow (limits.socketsPerTenant). */
  TRY_AGAIN_LATER: 1013,
} as const;
