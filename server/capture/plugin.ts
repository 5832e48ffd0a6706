import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';

const rawText = (text: unknown): unknown => text;

/** The library's message reader, as readRawTuple uses it: the message and the position in it. */
interface MessageReader {
  _b: Buffer;
  _p: number;
}

type Tuple = Record<string, unknown>;
type ReadTuple = (reader: MessageReader, relation: Pgoutput.MessageRelation, unchanged?: Tuple) => Tuple;

/**
 * pgoutput as the library decodes it, except that column values stay the text Postgres printed. The
 * library's default parsers turn a `date` into a local-time Date and int8/numeric into strings or
 * numbers by their own rules; values.ts converts the exact text instead.
 *
 * The swap happens in parse(), which the library calls as each message arrives, so it is in place before
 * the first row of the relation is parsed (row messages are parsed on receipt, handled later).
 *
 * A tuple is read by readRawTuple rather than the library's reader, which cut each value out as a Buffer
 * and decoded it with a TextDecoder: capture's process spends ~10 % less CPU a row (bench/capture.bench.ts).
 */
export class RawTextPgoutputPlugin extends PgoutputPlugin {
  constructor(options: ConstructorParameters<typeof PgoutputPlugin>[0]) {
    super(options);
    (this as unknown as { parser: { readTuple: ReadTuple } }).parser.readTuple = readRawTuple;
  }

  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer);
    if (message.tag === 'relation') {
      for (const column of message.columns) column.parser = rawText;
    }
    return message;
  }
}

/**
 * One TupleData of a row message (PostgreSQL's "Logical Replication Message Formats"), from the reader's
 * position: each column's text as a string, null for a NULL, the old tuple's value (or undefined) for an
 * unchanged TOASTed value, a Buffer for a binary one. What the library's readTuple returns, read in place.
 */
function readRawTuple(reader: MessageReader, relation: Pgoutput.MessageRelation, unchanged?: Tuple): Tuple {
  const b = reader._b;
  let p = reader._p;
  const need = (n: number): void => {
    if (p + n > b.length) throw new Error('unexpected end of message');
  };
  need(2);
  const count = b.readUInt16BE(p);
  p += 2;
  const tuple: Tuple = Object.create(null) as Tuple;
  for (let i = 0; i < count; i++) {
    const column = relation.columns[i];
    if (column === undefined) throw new Error(`tuple has more columns than relation ${relation.name}`);
    need(1);
    const kind = b[p++];
    if (kind === 0x74 /* t */ || kind === 0x62 /* b */) {
      need(4);
      const size = b.readInt32BE(p);
      p += 4;
      need(size);
      tuple[column.name] = kind === 0x74 ? b.toString('utf8', p, p + size) : b.subarray(p, p + size);
      p += size;
    } else if (kind === 0x6e /* n */) {
      tuple[column.name] = null;
    } else if (kind === 0x75 /* u */) {
      tuple[column.name] = unchanged?.[column.name];
    } else {
      throw new Error(`unknown attribute kind ${String.fromCharCode(kind ?? 0)}`);
    }
  }
  reader._p = p;
  return tuple;
}
