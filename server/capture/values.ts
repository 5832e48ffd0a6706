/**
 * Column values arrive from pgoutput as the text Postgres prints (the replication session runs with
 * DateStyle=ISO and TimeZone=UTC). Each converter turns that text straight into a JSON fragment, so a
 * payload is built as one string without parsing values into objects and serialising them again.
 */
export type JsonFragment = (text: string) => string;

const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
// '2024-05-01 10:00:00.123456+00' (TimeZone=UTC) or the same without zone for `timestamp`.
const TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(\+00)?$/;

const quoted: JsonFragment = (text) => JSON.stringify(text);
// uuid text is hex and dashes only: nothing to escape.
const uuid: JsonFragment = (text) => `"${text}"`;
const bool: JsonFragment = (text) => (text === 't' ? 'true' : 'false');
const smallInteger: JsonFragment = (text) => text;
// Beyond 2^53 a JSON number would lose digits in every JavaScript reader: send the decimal string.
const bigInteger: JsonFragment = (text) =>
  text.length < 16 || Number.isSafeInteger(Number(text)) ? text : `"${text}"`;
// numeric and floats print as JSON numbers except NaN and ±Infinity, which JSON cannot hold.
const number: JsonFragment = (text) => (JSON_NUMBER.test(text) ? text : `"${text}"`);
const json: JsonFragment = (text) => text;

/** ISO 8601 in the form `Date#toISOString()` gives (UTC, milliseconds), as the rest of the server prints. */
export function isoTimestamp(text: string): string {
  const m = TIMESTAMP.exec(text);
  if (m === null) return text; // infinity, BC dates, years past 9999: keep what Postgres printed
  const millis = (m[3] ?? '').padEnd(3, '0').slice(0, 3);
  return `${m[1]}T${m[2]}.${millis}${m[4] === undefined ? '' : 'Z'}`;
}

const timestamp: JsonFragment = (text) => `"${isoTimestamp(text)}"`;

const BY_OID: ReadonlyMap<number, JsonFragment> = new Map([
  [OID.bool, bool],
  [OID.int2, smallInteger],
  [OID.int4, smallInteger],
  [OID.oid, smallInteger],
  [OID.int8, bigInteger],
  [OID.numeric, number],
  [OID.float4, number],
  [OID.float8, number],
  [OID.text, quoted],
  [OID.varchar, quoted],
  [OID.bpchar, quoted],
  [OID.uuid, uuid],
  [OID.date, quoted], // DateStyle=ISO prints 'YYYY-MM-DD', which is already the protocol's form
  [OID.timestamp, timestamp],
  [OID.timestamptz, timestamp],
  [OID.json, json],
  [OID.jsonb, json],
]);

/** Converter for a column of type `typeOid`; any other type is sent as the string Postgres prints. */
export function jsonFragmentFor(typeOid: number): JsonFragment {
  return BY_OID.get(typeOid) ?? quoted;
}
