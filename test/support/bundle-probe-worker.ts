/** A worker for test/bundled-worker.unit.test.ts: uses a project module and a package, and reports. */
import { parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';
import { must } from '../../shared/asserts.ts';

function failingOnPurpose(): never {
  throw new Error('thrown on purpose');
}

const port = must(parentPort, 'runs on a worker thread');
const parsed = z.object({ name: z.string() }).parse(workerData);
let stack = '';
try {
  failingOnPurpose();
} catch (error) {
  stack = (error as Error).stack ?? '';
}
port.postMessage({ greeting: `hello ${parsed.name}`, stack, execArgv: process.execArgv });
