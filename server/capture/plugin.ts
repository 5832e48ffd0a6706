import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';

const rawText = (text: unknown): unknown => text;

/**
 * pgoutput as the library decodes it, except that column values stay the text Postgres printed. The
 * library's default parsers turn a `date` into a local-time Date and int8/numeric into strings or
 * numbers by their own rules; values.ts converts the exact text instead.
 *
 * The swap happens in parse(), which the library calls as each message arrives, so it is in place before
 * the first row of the relation is parsed (row messages are parsed on receipt, handled later).
 */
export class RawTextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer);
    if (message.tag === 'relation') {
      for (const column of message.columns) column.parser = rawText;
    }
    return message;
  }
}
