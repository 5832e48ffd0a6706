import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits for something eventual (a page redraw, a row on the server): 1 s, its default, is
    // not enough on a loaded 2-core machine.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    // Two cores: files run two at a time, each against its own database.
    maxWorkers: 2,
  },
});
