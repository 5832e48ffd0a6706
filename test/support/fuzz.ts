/** Seeded mutation of valid requests: the same seed gives the same bodies, so a failure can be replayed. */

/** A small deterministic PRNG (mulberry32) in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Chooser {
  constructor(readonly random: () => number) {}

  int(max: number): number {
    return Math.floor(this.random() * max);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  chance(p: number): boolean {
    return this.random() < p;
  }
}

/**
 * A string that stands for JSON nested `DEEP_LEVELS` deep: JSON.stringify cannot write such a value, so it
 * is put in the text afterwards by `serialize`.
 */
const DEEP_MARK = '(deep-json)';
const DEEP_LEVELS = 3000;
const DEEP_JSON = `${'{"a":['.repeat(DEEP_LEVELS)}0${']}'.repeat(DEEP_LEVELS)}`;

/** Values that have broken servers: bad text, huge text, edge numbers, wrong types, SQL, deep JSON. */
export const HOSTILE_VALUES: readonly unknown[] = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  '🎓\ud83c',
  'x'.repeat(1024 * 1024),
  '',
  ' ',
  "'; DROP TABLE students; --",
  '$1::uuid',
  '../../etc/passwd',
  '0000-01-01',
  '9999-12-31T23:59:59.999Z',
  '2024-02-30',
  'NaN',
  '1e308',
  '__proto__',
  'h9999999999999999999.9999999999999999999',
  1e308,
  -1e308,
  -0,
  2 ** 63,
  2 ** 53 + 1,
  -1,
  1.5,
  0,
  Number.MIN_VALUE,
  null,
  true,
  false,
  [],
  {},
  [null],
  { __proto__: null, constructor: { prototype: { polluted: true } } },
  DEEP_MARK,
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every container in `value` with the keys it holds, so a mutation can land anywhere. */
function containers(value: Json, found: (Json[] | { [key: string]: Json })[] = []): typeof found {
  if (value !== null && typeof value === 'object') {
    found.push(value);
    for (const inner of Array.isArray(value) ? value : Object.values(value)) containers(inner, found);
  }
  return found;
}

/** One random change to a copy of `value`: replace, delete or add a key, or swap an element's type. */
export function mutateValue(value: unknown, c: Chooser): unknown {
  const copy = JSON.parse(JSON.stringify(value)) as Json;
  const targets = containers(copy);
  if (targets.length === 0 || c.chance(0.03)) return c.pick(HOSTILE_VALUES);
  const rounds = 1 + c.int(3);
  for (let i = 0; i < rounds; i++) {
    const target = c.pick(targets);
    const hostile = c.pick(HOSTILE_VALUES) as Json;
    if (Array.isArray(target)) {
      if (target.length === 0 || c.chance(0.2)) target.push(hostile);
      else target[c.int(target.length)] = hostile;
      continue;
    }
    const keys = Object.keys(target);
    const roll = c.random();
    if (keys.length > 0 && roll < 0.7) target[c.pick(keys)] = hostile;
    else if (keys.length > 0 && roll < 0.85) delete target[c.pick(keys)];
    else {
      // defineProperty: an assignment to "__proto__" would set the prototype instead of adding the key.
      const key = c.pick(['__proto__', 'constructor', 'extra', 'tenant_id', 'k\u0000', '\ud800']);
      Object.defineProperty(target, key, {
        value: hostile,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return copy;
}

/** The JSON text of a (mutated) value, with the deep-JSON mark replaced by JSON nested thousands deep. */
export function serialize(value: unknown): string {
  return JSON.stringify(value).replaceAll(JSON.stringify(DEEP_MARK), DEEP_JSON);
}

/** Byte-level damage to a JSON text: flipped, inserted, deleted or truncated bytes (may leave bad UTF-8). */
export function mutateBytes(text: string, c: Chooser): Buffer {
  let bytes = Buffer.from(text, 'utf8');
  const rounds = 1 + c.int(4);
  for (let i = 0; i < rounds && bytes.length > 0; i++) {
    const at = c.int(bytes.length);
    const roll = c.random();
    if (roll < 0.4) {
      bytes[at] = bytes[at]! ^ (1 << c.int(8));
    } else if (roll < 0.6) {
      const junk = Buffer.from([c.pick([0x00, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0xc3, 0xff, 0xed, 0xa0])]);
      bytes = Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]);
    } else if (roll < 0.8) {
      bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + c.int(8))]);
    } else {
      bytes = bytes.subarray(0, at);
    }
  }
  return bytes;
}
