import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSettings, saveSettings, tenantOfToken, type SecretBox } from '../desktop/electron/config.ts';
import { signToken } from '../server/auth/tokens.ts';
import { TEST_JWT_SECRET } from './support/http.ts';
import { launchChromium } from './support/ui-browser.ts';

/** A reversible stand-in for the OS keychain: the file must never hold the token as typed. */
const box: SecretBox = {
  isEncryptionAvailable: () => true,
  encryptString: (plain) => Buffer.from([...Buffer.from(plain)].map((b) => b ^ 0x5a)),
  decryptString: (encrypted) => Buffer.from([...encrypted].map((b) => b ^ 0x5a)).toString('utf8'),
};

describe('desk first run and UI test prerequisites', () => {
  const dir = mkdtempSync(join(tmpdir(), 'desk-setup-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('first run keeps the server URL and the tenant, and the token only encrypted', async () => {
    const tenantId = '5f0c6a52-8a0e-4d4b-9a43-6a1f0c2a9b11';
    const token = await signToken(TEST_JWT_SECRET, { sub: 'desk-1', tenantId, role: 'desk' }, 3600);
    expect(tenantOfToken(token)).toBe(tenantId);
    const path = join(dir, 'settings.json');
    saveSettings(path, box, { serverUrl: 'https://sync.school.example/', token });
    expect(readFileSync(path, 'utf8')).not.toContain(token);
    expect(readSettings(path, box)).toEqual({ serverUrl: 'https://sync.school.example', tenantId, token });
  });

  it('first run refuses a bad address, a non-token, and a machine without secure storage', async () => {
    const path = join(dir, 'refused.json');
    const token = await signToken(
      TEST_JWT_SECRET,
      { sub: 'd', tenantId: '5f0c6a52-8a0e-4d4b-9a43-6a1f0c2a9b11', role: 'desk' },
      60,
    );
    expect(() => saveSettings(path, box, { serverUrl: 'ftp://x', token })).toThrow(/server address/);
    expect(() => saveSettings(path, box, { serverUrl: 'http://x', token: 'hello' })).toThrow(
      /not a desk token/,
    );
    const noKeychain = { ...box, isEncryptionAvailable: () => false };
    expect(() => saveSettings(path, noKeychain, { serverUrl: 'http://x', token })).toThrow(/secure storage/);
    expect(readSettings(path, box)).toBeNull();
  });

  it('a missing Chromium fails the UI tests with the command that installs it', async () => {
    await expect(launchChromium('/nonexistent/chromium')).rejects.toThrow(
      /apt-get install -y --no-install-recommends chromium/,
    );
  });
});
