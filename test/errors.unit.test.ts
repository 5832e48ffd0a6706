import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_MEANINGS, isErrorCode } from '../shared/errors.ts';

describe('the error-code registry', () => {
  it('gives every code an UPPER_SNAKE name, an HTTP error status, a meaning and a client action', () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z_]+$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      expect(isErrorCode(code)).toBe(true);
      expect(ERROR_MEANINGS[code as keyof typeof ERROR_CODES].meaning.length).toBeGreaterThan(10);
    }
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('__proto__')).toBe(false);
  });

  it('is documented: README names every code', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const missing = Object.keys(ERROR_CODES).filter((code) => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });
});
