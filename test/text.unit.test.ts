import { describe, expect, it } from 'vitest';
import { findTextProblem, isStorableText, quoted, storableText } from '../shared/text.ts';

function nested(depth: number, bottom: unknown): unknown {
  let value = bottom;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

describe('text Postgres can hold', () => {
  it('tells NUL and lone surrogates from well-formed text, pairs and emoji included', () => {
    expect(isStorableText('Aïssatou 🎓 École')).toBe(true);
    expect(isStorableText('a\u0000b')).toBe(false);
    expect(isStorableText('\ud800')).toBe(false);
    expect(isStorableText('x\udc00')).toBe(false);
    expect(isStorableText('\ud83c\udf93')).toBe(true);
    expect(isStorableText('\udf93\ud83c')).toBe(false);
  });

  it('writes unstorable characters out as visible escapes and leaves the rest', () => {
    expect(storableText('a\u0000b\ud800c🎓')).toBe('a\\u0000b\\ud800c🎓');
    expect(isStorableText(storableText('\udfff\u0000\ud800'))).toBe(true);
  });

  it('quotes a value short and storable, even when cut inside a surrogate pair', () => {
    const cut = quoted(`${'x'.repeat(59)}🎓`, 60);
    expect(isStorableText(cut)).toBe(true);
    expect(quoted('x'.repeat(1_000_000)).length).toBeLessThan(80);
    expect(quoted({ a: '\u0000' })).toBe(JSON.stringify('{"a":"\\u0000"}'));
  });

  it('finds the first bad string or key, with its path, in document order', () => {
    expect(findTextProblem({ a: 'ok', b: ['x', 'y\u0000'] }, 'payload', 16)).toEqual({
      path: 'payload.b[1]',
      rule: 'UNSTORABLE_TEXT',
    });
    expect(findTextProblem({ 'bad\u0000key': 1 }, 'payload', 16)).toEqual({
      path: 'payload["bad\\\\u0000key"]',
      rule: 'UNSTORABLE_TEXT',
    });
    expect(findTextProblem({ first: '\ud800', second: '\u0000' }, 'p', 16)?.path).toBe('p.first');
    expect(findTextProblem({ a: 1, b: null, c: true, d: 'fine' }, 'p', 16)).toBeUndefined();
  });

  it('walks a value nested 200 000 levels deep without exhausting the stack, and stops at the limit', () => {
    const deep = nested(200_000, 'bottom');
    expect(findTextProblem(deep, 'payload', 300_000)).toBeUndefined();
    expect(findTextProblem(nested(200_000, '\u0000'), 'payload', 300_000)?.rule).toBe('UNSTORABLE_TEXT');
    expect(findTextProblem(deep, 'payload', 16)).toEqual({
      path: expect.stringMatching(/^payload\[0\]\.a\[0\]/),
      rule: 'TOO_DEEP',
    });
  });
});
