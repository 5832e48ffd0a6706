import type { SyncRules } from '../config/rules.ts';

/** Tuning of /api/sync/ws; what a deployment may change comes from the sync rules' `push` section. */
export interface DeskSocketOptions {
  /** Backlog page size (default: the rules' limits.downDefault). */
  pageLimit: number;
  /** A desk whose socket holds more unsent bytes than this is paused: nothing more is queued for it. */
  pauseAboveBytes: number;
  /** A paused desk resumes (reading from its own cursor) once its socket holds at most this. */
  resumeBelowBytes: number;
  /** How often a paused desk's socket buffer is looked at. */
  drainCheckMs: number;
  /** A desk paused this long without interruption is closed (1013) and catches up when it reconnects. */
  slowCloseMs: number;
  /** After a close frame, how long the peer has to answer before its socket is destroyed. */
  closeGraceMs: number;
  /** Largest message a desk may send (hello and ack are small). */
  maxMessageBytes: number;
}

/** The rules' values, then `given` over them (tests tune the socket without writing a rules file). */
export function deskSocketOptions(
  rules: Pick<SyncRules, 'limits' | 'push'>,
  given: Partial<DeskSocketOptions> = {},
): DeskSocketOptions {
  return {
    pageLimit: rules.limits.downDefault,
    pauseAboveBytes: rules.push.pauseAboveBytes,
    resumeBelowBytes: rules.push.resumeBelowBytes,
    drainCheckMs: 100,
    slowCloseMs: rules.push.slowDeskCloseMs,
    closeGraceMs: rules.push.closeGraceMs,
    maxMessageBytes: 64 * 1024,
    ...given,
  };
}
