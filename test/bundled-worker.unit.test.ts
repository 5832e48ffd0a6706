import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { bundledWorker } from '../shared/bundled-worker.ts';

const PROBE = new URL('./support/bundle-probe-worker.ts', import.meta.url);

describe('bundledWorker', () => {
  it('runs a TypeScript worker and its project imports without a loader, packages imported as Node resolves them', async () => {
    const script = await bundledWorker(PROBE);
    expect(script.protocol).toBe('data:');
    const code = Buffer.from(script.href.slice(script.href.indexOf(',') + 1), 'base64').toString();
    expect(code).toMatch(/from "file:\/\/\/[^"]*\/node_modules\/zod\//);
    expect(code).toContain('must(parentPort');
    const worker = new Worker(script, { workerData: { name: 'desk' }, execArgv: [] });
    try {
      const [report] = (await once(worker, 'message')) as [
        { greeting: string; stack: string; execArgv: string[] },
      ];
      expect(report.greeting).toBe('hello desk');
      expect(report.execArgv).toEqual([]);
      // Names survive bundling: a worker's failure, posted to capture's log, says where it happened.
      expect(report.stack).toContain('failingOnPurpose');
    } finally {
      await worker.terminate();
    }
  });

  it('bundles an entry once per process', async () => {
    const first = bundledWorker(PROBE);
    expect(bundledWorker(PROBE)).toBe(first);
    expect((await first).href).toBe((await bundledWorker(PROBE)).href);
  });

  it('rejects an entry that cannot be bundled, and tries again on the next call', async () => {
    const missing = new URL('./support/no-such-worker.ts', import.meta.url);
    const first = bundledWorker(missing);
    await expect(first).rejects.toThrow(/no-such-worker/);
    const second = bundledWorker(missing);
    expect(second).not.toBe(first);
    await expect(second).rejects.toThrow(/no-such-worker/);
  });
});
