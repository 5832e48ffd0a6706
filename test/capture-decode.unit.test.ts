import { describe, expect, it } from 'vitest';
import { ChangeDecoder } from '../server/capture/decode.ts';
import { formatLsn, parseLsn } from '../server/db/lsn.ts';
import { microsToIso } from '../server/capture/transactions.ts';
import { isoTimestamp, jsonFragmentFor } from '../server/capture/values.ts';
import { relation } from './support/pgoutput.ts';

const OID = {
  bool: 16,
  int8: 20,
  int4: 23,
  text: 25,
  jsonb: 3802,
  numeric: 1700,
  date: 1082,
  timestamptz: 1184,
};
const T = '00000000-0000-4000-8000-000000000001';
const E = '00000000-0000-4000-8000-0000000000e1';

describe('capture decoding (pure)', () => {
  it('values become the JSON the protocol fixes, from the exact text Postgres printed', () => {
    const json = (oid: number, text: string): unknown => JSON.parse(jsonFragmentFor(oid)(text));
    expect(json(OID.int4, '-42')).toBe(-42);
    expect(json(OID.int8, '9007199254740991')).toBe(9007199254740991);
    expect(json(OID.int8, '9007199254740993')).toBe('9007199254740993');
    expect(json(OID.numeric, '12.50')).toBe(12.5);
    expect(json(OID.numeric, 'NaN')).toBe('NaN');
    expect(json(OID.bool, 't')).toBe(true);
    expect(json(OID.bool, 'f')).toBe(false);
    expect(json(OID.date, '2024-02-29')).toBe('2024-02-29');
    expect(json(OID.text, 'quote " backslash \\ newline \n')).toBe('quote " backslash \\ newline \n');
    expect(json(OID.jsonb, '{"a": [1, "x"]}')).toEqual({ a: [1, 'x'] });
    expect(json(OID.timestamptz, '2024-05-01 10:00:00.123456+00')).toBe('2024-05-01T10:00:00.123Z');
    expect(isoTimestamp('2024-05-01 10:00:00+00')).toBe('2024-05-01T10:00:00.000Z');
    expect(isoTimestamp('2024-05-01 10:00:00.5+00')).toBe('2024-05-01T10:00:00.500Z');
    expect(isoTimestamp('infinity')).toBe('infinity');
    expect(json(9999, 'unknown type')).toBe('unknown type');
  });

  it('LSNs compare as 64-bit numbers, never as text; commit times keep their microseconds', () => {
    expect(parseLsn('0/10') > parseLsn('0/9')).toBe(true);
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
    expect(formatLsn(parseLsn('00000016/0B374D48'))).toBe('16/B374D48');
    expect(microsToIso(1_714_557_600_123_456n)).toBe('2024-05-01T10:00:00.123456Z');
  });

  it('a row becomes a camelCase payload without hidden fields; other tables are skipped', () => {
    const decoder = new ChangeDecoder({ entityTypes: ['TEACHER'], hiddenFields: { TEACHER: ['email'] } });
    const teachers = relation('teachers', [
      ['tenant_id', 2950],
      ['id', 2950],
      ['first_name', OID.text],
      ['email', OID.text],
      ['server_version', OID.int8],
    ]);
    const row = { tenant_id: T, id: E, first_name: 'Ada', email: 'a@b.c', server_version: '7' };
    const [change] = decoder.decode({ tag: 'insert', relation: teachers, new: row });
    expect(change).toMatchObject({ tenantId: T, entityId: E, operation: 'CREATE', serverVersion: '7' });
    expect(JSON.parse(change!.payload)).toEqual({ tenantId: T, id: E, firstName: 'Ada', serverVersion: 7 });
    const students = relation('students', [
      ['tenant_id', 2950],
      ['id', 2950],
    ]);
    expect(decoder.decode({ tag: 'insert', relation: students, new: { tenant_id: T, id: E } })).toEqual([]);
    expect(decoder.decode({ tag: 'insert', relation: relation('sync_events', []), new: {} })).toEqual([]);
  });

  it('a DELETE carries id and tenantId only; an UPDATE that changes the key is a DELETE and a CREATE', () => {
    const decoder = new ChangeDecoder({ entityTypes: ['TEACHER'], hiddenFields: {} });
    const teachers = relation('teachers', [
      ['tenant_id', 2950],
      ['id', 2950],
      ['server_version', OID.int8],
    ]);
    const old = { tenant_id: T, id: E, server_version: '3' };
    const [deleted] = decoder.decode({ tag: 'delete', relation: teachers, key: null, old });
    expect(deleted).toMatchObject({ operation: 'DELETE', serverVersion: null });
    expect(JSON.parse(deleted!.payload)).toEqual({ id: E, tenantId: T });
    const moved = { ...old, id: '00000000-0000-4000-8000-0000000000e2', server_version: '4' };
    const changes = decoder.decode({ tag: 'update', relation: teachers, key: null, old, new: moved });
    expect(changes.map((c) => [c.operation, c.entityId])).toEqual([
      ['DELETE', E],
      ['CREATE', moved.id],
    ]);
  });
});
