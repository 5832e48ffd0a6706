import type { SyncRules } from '../config/rules.ts';

/** Tuning of /api/sync/ws beyond the sync rules' intervals; every field has a default. */
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

export function deskSocketOptions(
  rules: Pick<SyncRules, 'limits'>,
  given: Partial<DeskSocketOptions> = {},
): DeskSocketOptions {
  return {
    pageLimit: rules.limits.downDefault,
    pauseAboveBytes: 1024 * 1024,
    resumeBelowBytes: 64 * 1024,
    drainCheckMs: 100,
    slowCloseMs: 30_000,
    closeGraceMs: 2_000,
    maxMessageBytes: 64 * 1024,
    ...given,
  };
}
