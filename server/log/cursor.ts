import { SyncError } from '../errors.ts';

/**
 * A position in a tenant's change log: the tenant's log epoch and the id of the last `sync_events` row
 * the holder has seen (0: nothing yet). Desks treat the encoded form as opaque.
 */
export interface CursorPosition {
  epoch: number;
  eventId: number;
}

const PREFIX = 'c1';

export function encodeCursor(position: CursorPosition): string {
  return `${PREFIX}.${position.epoch.toString(36)}.${position.eventId.toString(36)}`;
}

/** Parses a cursor this server issued; anything else is INVALID_CURSOR (400). */
export function decodeCursor(cursor: string): CursorPosition {
  const parts = cursor.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) throw invalid();
  const [, epochText = '', idText = ''] = parts;
  if (!/^[0-9a-z]{1,7}$/.test(epochText) || !/^[0-9a-z]{1,11}$/.test(idText)) throw invalid();
  const epoch = parseInt(epochText, 36);
  const eventId = parseInt(idText, 36);
  if (!Number.isSafeInteger(epoch) || !Number.isSafeInteger(eventId)) throw invalid();
  // A canonical encoding only: "c1.0.00a" and "c1.0.a" must not both be accepted.
  if (encodeCursor({ epoch, eventId }) !== cursor) throw invalid();
  return { epoch, eventId };
}

function invalid(): SyncError {
  return new SyncError('INVALID_CURSOR', 'cursor was not issued by this server');
}
