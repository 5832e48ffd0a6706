/**
 * Text Postgres can hold. Postgres text and jsonb refuse U+0000, and jsonb refuses a lone UTF-16 surrogate
 * (JSON.stringify writes it as a `\udXXX` escape); node-pg would otherwise turn a lone surrogate in a text
 * parameter into U+FFFD without a word. Every string a request brings is checked with these before it is
 * written, and every string the server writes about a request (a rejection reason, an audit row) is made
 * storable first.
 */

// NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;
const UNSTORABLE_ALL = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/gu;

/** True when `text` holds no NUL and no lone surrogate. */
export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** `text` with each NUL and lone surrogate written out as its escape (`\u0000`, `\ud800`): visible, storable. */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A value quoted for a message: storable, and cut to `max` characters so an echoed value stays short. */
export function quoted(value: unknown, max = 60): string {
  const text = typeof value === 'string' ? value : String(JSON.stringify(value));
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(storableText(cut));
}

/** How a key is written in a field path: `a.b` for plain names, `a["x y"]` otherwise. */
function pathStep(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${quoted(key, 40)}]`;
}

export type TextProblem = { path: string; rule: 'UNSTORABLE_TEXT' | 'TOO_DEEP' };

/** A place in the value being walked; its path is spelled out only when a problem is found there. */
interface Place {
  value: unknown;
  key: string | number | null;
  parent: Place | null;
  depth: number;
}

function pathOf(place: Place, root: string): string {
  const keys: (string | number)[] = [];
  for (let p: Place | null = place; p !== null && p.key !== null; p = p.parent) keys.push(p.key);
  return keys.reverse().reduce<string>((path, key) => pathStep(path, key), root);
}

/**
 * The first place in a JSON value where a string (or a key) Postgres cannot hold sits, or where nesting
 * passes `maxDepth`. Iterative, and paths are built only for the answer: a body nested thousands of levels
 * deep can neither exhaust the stack nor cost quadratic time.
 */
export function findTextProblem(value: unknown, root: string, maxDepth: number): TextProblem | undefined {
  const stack: Place[] = [{ value, key: null, parent: null, depth: 0 }];
  for (let place = stack.pop(); place !== undefined; place = stack.pop()) {
    const current = place.value;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return { path: pathOf(place, root), rule: 'UNSTORABLE_TEXT' };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (place.depth >= maxDepth) return { path: pathOf(place, root), rule: 'TOO_DEEP' };
    const entries: [string | number, unknown][] = Array.isArray(current)
      ? current.map((inner, index) => [index, inner])
      : Object.entries(current);
    for (const [key] of entries) {
      if (typeof key === 'string' && !isStorableText(key)) {
        return { path: pathStep(pathOf(place, root), storableText(key)), rule: 'UNSTORABLE_TEXT' };
      }
    }
    // Pushed in reverse so that values are visited in document order.
    for (const [key, inner] of entries.reverse()) {
      stack.push({ value: inner, key, parent: place, depth: place.depth + 1 });
    }
  }
  return undefined;
}
