import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  embeddedUrlPath,
  readEmbeddedUrl,
  removeEmbeddedUrl,
  writeEmbeddedUrl,
} from '../server/admin/embedded-url.ts';

const URL_A = 'postgres://postgres:p%40ss@127.0.0.1:5433/school_sync';
const URL_B = 'postgres://postgres:other@127.0.0.1:5444/school_sync';

describe('embedded database URL record', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'embedded-url-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('the record is readable by its owner only (0600), even when it replaces a looser file', () => {
    const dataDir = join(dir, 'fresh', '.data');
    const path = writeEmbeddedUrl(dataDir, URL_A);
    expect(path).toBe(embeddedUrlPath(dataDir));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readEmbeddedUrl(dataDir)).toBe(URL_A);

    chmodSync(path, 0o644);
    writeEmbeddedUrl(dataDir, URL_B);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readEmbeddedUrl(dataDir)).toBe(URL_B);
    expect(readdirSync(dataDir)).toEqual(['database-url']);
  });

  it('no record reads as undefined; a record that is not a postgres URL is an error naming the file', () => {
    expect(readEmbeddedUrl(dir)).toBeUndefined();
    writeFileSync(embeddedUrlPath(dir), '\n');
    expect(readEmbeddedUrl(dir)).toBeUndefined();
    writeFileSync(embeddedUrlPath(dir), 'hello\n');
    expect(() => readEmbeddedUrl(dir)).toThrow(/database-url does not hold a postgres:\/\/ URL/);
  });

  it('removing with a URL removes only that record; without one, whatever is there', () => {
    writeEmbeddedUrl(dir, URL_B);
    removeEmbeddedUrl(dir, URL_A);
    expect(readEmbeddedUrl(dir)).toBe(URL_B);
    removeEmbeddedUrl(dir, URL_B);
    expect(readEmbeddedUrl(dir)).toBeUndefined();
    writeEmbeddedUrl(dir, URL_A);
    removeEmbeddedUrl(dir);
    expect(readEmbeddedUrl(dir)).toBeUndefined();
    expect(() => removeEmbeddedUrl(dir)).not.toThrow();
  });
});
