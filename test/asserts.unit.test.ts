import { describe, expect, it } from 'vitest';
import { assert, AssertionError, must } from '../shared/asserts.ts';

describe('assertions for impossible states', () => {
  it('pass silently, or throw an AssertionError with the message (built only on failure)', () => {
    expect(() => assert(true, 'never')).not.toThrow();
    expect(() => assert(0, 'zero is falsy')).toThrow(new AssertionError('zero is falsy'));
    let built = 0;
    assert(1, () => `${++built}`);
    expect(built).toBe(0);
    expect(must('x', 'absent')).toBe('x');
    expect(must(0, 'absent')).toBe(0);
    expect(() => must(undefined, 'row missing')).toThrow('assertion failed: row missing');
    expect(() => must(null, () => 'null row')).toThrow(AssertionError);
  });
});
