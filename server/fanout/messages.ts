import type { WsServerMessage } from '../../shared/protocol.ts';

/**
 * A `changes` message spliced around a JSON array of protocol Changes (as read.ts builds them), so that no
 * payload is parsed or re-serialised on its way to a desk.
 */
export function changesMessage(changesJson: string, cursor: string): Buffer {
  return Buffer.from(`{"type":"changes","changes":${changesJson},"cursor":${JSON.stringify(cursor)}}`);
}

/** Any other server message, typed by the shared schema. */
export function serverMessage(message: Exclude<WsServerMessage, { type: 'changes' }>): string {
  return JSON.stringify(message);
}
