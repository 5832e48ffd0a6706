import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { describe, expect, it } from 'vitest';
import { RawTextPgoutputPlugin } from '../server/capture/plugin.ts';

const TEXT_OID = 25;

/** pgoutput (protocol 1) message bytes, as PostgreSQL's "Logical Replication Message Formats" lays them out. */
class Message {
  private readonly parts: Buffer[] = [];
  byte(value: number | string): this {
    this.parts.push(Buffer.from([typeof value === 'string' ? value.charCodeAt(0) : value]));
    return this;
  }
  int16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(value);
    this.parts.push(b);
    return this;
  }
  int32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value);
    this.parts.push(b);
    return this;
  }
  string(value: string): this {
    this.parts.push(Buffer.from(`${value}\0`, 'utf8'));
    return this;
  }
  /** TupleData: a string is a text value, null a NULL, undefined an unchanged TOASTed value. */
  tuple(values: (string | null | undefined)[]): this {
    this.int16(values.length);
    for (const value of values) {
      if (value === null) this.byte('n');
      else if (value === undefined) this.byte('u');
      else {
        const bytes = Buffer.from(value, 'utf8');
        this.byte('t').int32(bytes.length);
        this.parts.push(bytes);
      }
    }
    return this;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const COLUMNS = ['tenant_id', 'id', 'first_name', 'notes'];
const relationMessage = (): Buffer => {
  const m = new Message()
    .byte('R')
    .int32(7)
    .string('public')
    .string('students')
    .byte('f')
    .int16(COLUMNS.length);
  for (const name of COLUMNS)
    m.byte(name === 'id' ? 1 : 0)
      .string(name)
      .int32(TEXT_OID)
      .int32(-1);
  return m.bytes;
};
const insert = new Message()
  .byte('I')
  .int32(7)
  .byte('N')
  .tuple(['t-1', 'e-1', 'Aïssatou 🎓 "quoted"\\', null]).bytes;
const update = new Message()
  .byte('U')
  .int32(7)
  .byte('O')
  .tuple(['t-1', 'e-1', 'Awa', 'a long TOASTed note'])
  .byte('N')
  .tuple(['t-1', 'e-1', 'Awa B.', undefined]).bytes;
const invalidUtf8 = new Message().byte('I').int32(7).byte('N').int16(4);
const invalidBytes = Buffer.concat([
  invalidUtf8.bytes,
  Buffer.from([0x74, 0, 0, 0, 2, 0xc3, 0x28]),
  Buffer.from([0x6e, 0x6e, 0x6e]),
]);

function parseAll(plugin: PgoutputPlugin, messages: Buffer[]): Pgoutput.Message[] {
  return messages.map((m) => plugin.parse(m));
}

const options = { protoVersion: 1 as const, publicationNames: ['p'] };

describe('RawTextPgoutputPlugin', () => {
  it('reads tuples as the library does, values as the text Postgres sent: UTF-8, NULL, an unchanged TOASTed value from the old tuple', () => {
    const ours = parseAll(new RawTextPgoutputPlugin(options), [
      relationMessage(),
      insert,
      update,
      invalidBytes,
    ]);
    const library = parseAll(new PgoutputPlugin(options), [relationMessage(), insert, update, invalidBytes]);
    const rows = (messages: Pgoutput.Message[]) =>
      messages.slice(1).map((m) => {
        const row = m as Pgoutput.MessageInsert | Pgoutput.MessageUpdate;
        return { tag: row.tag, old: 'old' in row ? { ...row.old } : undefined, new: { ...row.new } };
      });
    expect(rows(ours)).toEqual(rows(library));
    expect((ours[1] as Pgoutput.MessageInsert).new).toEqual({
      tenant_id: 't-1',
      id: 'e-1',
      first_name: 'Aïssatou 🎓 "quoted"\\',
      notes: null,
    });
    expect((ours[2] as Pgoutput.MessageUpdate).new.notes).toBe('a long TOASTed note');
    // Invalid UTF-8 becomes U+FFFD, as with the library's TextDecoder.
    expect((ours[3] as Pgoutput.MessageInsert).new.tenant_id).toBe('\ufffd(');
  });

  it('refuses a message cut short or with an unknown value kind', () => {
    const plugin = new RawTextPgoutputPlugin(options);
    plugin.parse(relationMessage());
    expect(() => plugin.parse(insert.subarray(0, insert.length - 3))).toThrow(/unexpected end of message/);
    const unknownKind = Buffer.concat([
      new Message().byte('I').int32(7).byte('N').int16(1).bytes,
      Buffer.from('x'),
    ]);
    expect(() => plugin.parse(unknownKind)).toThrow(/unknown attribute kind x/);
    const tooMany = new Message().byte('I').int32(7).byte('N').tuple(['a', 'b', 'c', 'd', 'e']).bytes;
    expect(() => plugin.parse(tooMany)).toThrow(/more columns than relation students/);
  });
});
