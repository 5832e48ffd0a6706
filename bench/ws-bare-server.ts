/**
 * The raw floor of bench/ws-memory.bench.ts: a bare `ws` server (no Fastify, no auth, no state) that holds
 * every connection it gets. Prints `{"port","pid","rssKb","connections"}` every 500 ms; SIGUSR2 runs a
 * full GC when started with --expose-gc.
 */
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';

// Before the first status line: the benchmark may signal as soon as it reads it.
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
server.on('connection', (ws) => {
  ws.on('message', () => undefined);
});
const address = server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
const report = (): void => {
  const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  process.stdout.write(
    `${JSON.stringify({ port, pid: process.pid, rssKb, connections: server.clients.size })}\n`,
  );
};
report();
setInterval(report, 500);
process.once('SIGTERM', () => process.exit(0));
