import type { Pgoutput } from 'pg-logical-replication';
import { describe, expect, it } from 'vitest';
import { ChangeDecoder } from '../server/capture/decode.ts';
import { OriginQueue, parseOrigin } from '../server/capture/origin.ts';
import { relation as tableRelation } from './support/pgoutput.ts';

const T = '00000000-0000-4000-8000-000000000001';
const E = '00000000-0000-4000-8000-0000000000e1';
const UUID = 2950;
const TEXT = 25;
const NUMERIC = 1700;
const INT8 = 20;
const TIMESTAMPTZ = 1184;

function teachers(): Pgoutput.MessageRelation {
  return tableRelation('teachers', [
    ['tenant_id', UUID],
    ['id', UUID],
    ['first_name', TEXT],
    ['email', TEXT],
    ['rank', NUMERIC],
    ['server_version', INT8],
    ['updated_at', TIMESTAMPTZ],
  ]);
}

const row = {
  tenant_id: T,
  id: E,
  first_name: 'Ada',
  email: 'a@b.c',
  rank: '12',
  server_version: '7',
  updated_at: '2026-11-28 08:00:00+00',
};

describe('history field changes, computed in capture (pure)', () => {
  const rules = { entityTypes: ['TEACHER' as const], hiddenFields: { TEACHER: ['email'] } };
  const decoder = new ChangeDecoder(rules, { history: true });
  const relation = teachers();
  const changesOf = (message: Pgoutput.Message): unknown => {
    const [change] = decoder.decode(message as Parameters<ChangeDecoder['decode']>[0]);
    return JSON.parse(change!.changes!);
  };

  it('a CREATE stores {}: its fields are read from its payload, which has no hidden field', () => {
    const [change] = decoder.decode({ tag: 'insert', relation, new: row });
    expect(change?.changes).toBe('{}');
    expect(JSON.parse(change!.payload)).not.toHaveProperty('email');
  });

  it('an UPDATE lists only the fields that differ from the old row; a hidden field never appears', () => {
    const next = {
      ...row,
      rank: '14',
      email: 'new@b.c',
      server_version: '8',
      updated_at: '2026-11-29 08:02:00+00',
    };
    expect(changesOf({ tag: 'update', relation, key: null, old: row, new: next })).toEqual({
      rank: { from: 12, to: 14 },
    });
    // An unchanged TOASTed value is absent from the new tuple: unchanged, not listed.
    expect(
      changesOf({ tag: 'update', relation, key: null, old: row, new: { ...next, first_name: undefined } }),
    ).toEqual({ rank: { from: 12, to: 14 } });
    // Without REPLICA IDENTITY FULL the old row is unknown: every field with its new value only.
    expect(changesOf({ tag: 'update', relation, key: null, old: null, new: next })).toEqual({
      firstName: { to: 'Ada' },
      rank: { to: 14 },
    });
  });

  it('a DELETE stores every field of the old row (read as to null)', () => {
    expect(changesOf({ tag: 'delete', relation, key: null, old: row })).toEqual({
      firstName: 'Ada',
      rank: 12,
    });
  });

  it('with history off no changes are computed', () => {
    const off = new ChangeDecoder(rules);
    const [change] = off.decode({ tag: 'insert', relation, new: row });
    expect(change!.changes).toBeNull();
  });

  it("an origin message carries the user, each event's edit time and decision; an older server's message still reads", () => {
    const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
    const queue = new OriginQueue();
    const outbox = '00000000-0000-4000-8000-0000000000b1';
    queue.add(
      parseOrigin(
        encode({
          clientId: 'Secretariat-2',
          userId: 'm.diallo',
          ops: [['TEACHER', E, outbox, 0, '2026-11-28T10:00:00.000Z', 'KEEP_LOCAL']],
        }),
      )!,
    );
    queue.add(parseOrigin(encode({ clientId: 'old-desk', ops: [['TEACHER', E, outbox, 5]] }))!);
    expect(queue.take('TEACHER', E)).toEqual({
      clientId: 'Secretariat-2',
      outboxEventId: outbox,
      deleteVersion: 0,
      userId: 'm.diallo',
      editedAt: '2026-11-28T10:00:00.000Z',
      decision: 'KEEP_LOCAL',
    });
    expect(queue.take('TEACHER', E)).toMatchObject({ clientId: 'old-desk', userId: null, editedAt: null });
  });
});
