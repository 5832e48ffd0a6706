import { describe, expect, it } from 'vitest';
import { SyncError } from '../server/errors.ts';
import { decodeCursor, encodeCursor } from '../server/log/cursor.ts';
import { PageTokenCodec } from '../server/log/page-token.ts';
import { checkPosition, type TenantLogState } from '../server/log/tenant-log.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (error instanceof SyncError) return error.code;
    throw error;
  }
}

describe('cursor validity against the tenant log', () => {
  const state: TenantLogState = { epoch: 2, floorId: 100, lastIssuedId: 500, tailId: 480 };
  const fresh: TenantLogState = { epoch: 0, floorId: 0, lastIssuedId: 0, tailId: 0 };

  it('a cursor of the current epoch between floor and the last issued id is served', () => {
    for (const eventId of [100, 101, 480, 500]) {
      expect(codeOf(() => checkPosition({ epoch: 2, eventId }, state))).toBeUndefined();
    }
    expect(codeOf(() => checkPosition(null, fresh))).toBeUndefined();
    expect(codeOf(() => checkPosition({ epoch: 0, eventId: 0 }, fresh))).toBeUndefined();
  });

  it('I5: an older epoch, a position below the floor, or a null cursor once pruned is RESYNC_REQUIRED', () => {
    expect(codeOf(() => checkPosition({ epoch: 1, eventId: 300 }, state))).toBe('RESYNC_REQUIRED');
    expect(codeOf(() => checkPosition({ epoch: 2, eventId: 99 }, state))).toBe('RESYNC_REQUIRED');
    expect(codeOf(() => checkPosition(null, state))).toBe('RESYNC_REQUIRED');
  });

  it('a position past the last issued id, or a future epoch, was never issued: INVALID_CURSOR', () => {
    expect(codeOf(() => checkPosition({ epoch: 2, eventId: 501 }, state))).toBe('INVALID_CURSOR');
    expect(codeOf(() => checkPosition({ epoch: 3, eventId: 200 }, state))).toBe('INVALID_CURSOR');
    expect(codeOf(() => checkPosition({ epoch: 0, eventId: 1 }, fresh))).toBe('INVALID_CURSOR');
  });

  it('cursors round-trip and only the canonical form decodes', () => {
    const position = { epoch: 3, eventId: 1_234_567_890 };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
    for (const bad of ['', 'c1', 'c1.0', 'c2.0.1', 'c1.0.01', 'c1.-1.1', 'c1.0.1.2', 'c1.0.zzzzzzzzzzzz']) {
      expect(codeOf(() => decodeCursor(bad))).toBe('INVALID_CURSOR');
    }
  });
});

describe('snapshot page tokens', () => {
  const codec = new PageTokenCodec('page-token-secret-page-token-secret-000');
  const tenant = '5b0b7a3e-8a3c-4d55-9d5e-0c7c1b1d2e3f';
  const position = {
    cursor: encodeCursor({ epoch: 0, eventId: 42 }),
    entityTypes: ['CLASS' as const, 'STUDENT' as const],
    typeIndex: 1,
    lastId: '0b7c7f0e-3b1a-4f4e-9c1d-2a3b4c5d6e7f',
  };

  it('a token decodes to the position it was made from, for its tenant only', () => {
    const token = codec.encode(tenant, position);
    expect(codec.decode(tenant, token)).toEqual(position);
    expect(codeOf(() => codec.decode('6b0b7a3e-8a3c-4d55-9d5e-0c7c1b1d2e3f', token))).toBe(
      'INVALID_PAGE_TOKEN',
    );
    const otherServer = new PageTokenCodec('another-secret-another-secret-another-0');
    expect(codeOf(() => otherServer.decode(tenant, token))).toBe('INVALID_PAGE_TOKEN');
  });

  it('any edit to a token is INVALID_PAGE_TOKEN, even one that is well-formed', () => {
    const token = codec.encode(tenant, position);
    const [, mac] = token.split('.') as [string, string];
    const forged = (p: unknown) => `${Buffer.from(JSON.stringify(p)).toString('base64url')}.${mac}`;
    for (const bad of [
      forged({ ...position, cursor: encodeCursor({ epoch: 0, eventId: 1 }) }),
      forged({ ...position, typeIndex: 0 }),
      `${token}x`,
      token.replace('.', '.A'),
      'not-a-token',
      '.',
    ]) {
      expect(codeOf(() => codec.decode(tenant, bad))).toBe('INVALID_PAGE_TOKEN');
    }
  });
});
