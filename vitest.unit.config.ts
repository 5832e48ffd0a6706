import { defineConfig } from 'vitest/config';

/**
 * The fast tier: pure logic and the desk's SQLite store, no Postgres and no browser (`npm run test:unit`).
 * A file belongs here when it is named `*.unit.test.ts`; `npm test` runs these with everything else.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.unit.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
