// A worker thread's entry: TypeScript is loaded through tsx (a runtime dependency, as for `npm start`),
// which a worker does not inherit from its parent's loader.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
