import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** The real Chromium binary of the Debian package (`/usr/bin/chromium` is a wrapper script). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';

/**
 * Headless Chromium for the UI tests. A missing browser fails the test with the command that installs it:
 * these tests are never skipped silently.
 */
export async function launchChromium(executablePath = CHROMIUM_PATH): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}: the UI tests need it. Install it with ` +
        '`apt-get update && apt-get install -y --no-install-recommends chromium` (or set CHROMIUM_PATH).',
    );
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
