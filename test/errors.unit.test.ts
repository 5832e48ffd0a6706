import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CaptureFencedError } from '../server/capture/writer.ts';
import { PublicationError } from '../server/ops/publication.ts';
import { ConfigError } from '../server/config/env.ts';
import {
  ERROR_CODES,
  ERROR_MEANINGS,
  isErrorCode,
  isOperatorCode,
  OPERATOR_CODES,
  STATUS_WARNING_CODES,
} from '../shared/errors.ts';

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

  it('gives every operator code an UPPER_SNAKE name, a meaning and what the operator does, apart from the protocol codes', () => {
    for (const [code, entry] of Object.entries(OPERATOR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z_]+$/);
      expect(isOperatorCode(code)).toBe(true);
      expect(isErrorCode(code), code).toBe(false);
      expect(entry.meaning.length).toBeGreaterThan(10);
      expect(entry.operatorAction.length).toBeGreaterThan(10);
    }
    expect(isOperatorCode('toString')).toBe(false);
  });

  it('holds the code of every error a process stops or restarts on, or a sync-admin command refuses with', () => {
    const thrown = [
      new ConfigError('environment', ['PORT: too big']),
      new CaptureFencedError('sync_slot', { lsn: '0/16B3748', partialLsn: null, partialChanges: 0 }),
      new PublicationError('NO_TENANT_ID', 'scratch has no tenant_id column'),
    ];
    for (const error of thrown) expect(isOperatorCode(error.code), error.code).toBe(true);
  });

  it('is documented: README names every code', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const codes = [...Object.keys(ERROR_CODES), ...Object.keys(OPERATOR_CODES), ...STATUS_WARNING_CODES];
    const missing = codes.filter((code) => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });
});
