import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import type { Logger } from 'pino';
import { isBridgeMethod } from '../bridge.ts';
import type { BridgeHost } from '../bridge-host.ts';
import { DeskStoreError } from '../store/index.ts';
import { assert } from '../../shared/asserts.ts';

export interface HarnessOptions {
  /** The built renderer (see renderer/build.ts). */
  rendererDir: string;
  bridge: BridgeHost;
  /** 0: any free port. Always bound to 127.0.0.1: the harness is for tests and development only. */
  port?: number;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};
const MAX_BODY = 1_000_000;

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new DeskStoreError('VALIDATION', 'request too large');
    chunks.push(chunk);
  }
  return chunks.length === 0 ? [] : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body ?? null));
}

/**
 * The browser stand-in for Electron's main process: serves the built renderer and answers DeskBridge calls
 * over HTTP (`POST /bridge/<method>` with the arguments as a JSON array) and pushes bridge events over
 * server-sent events (`GET /bridge/events`).
 */
export class DeskHarness {
  private server: Server | null = null;
  private readonly streams = new Set<ServerResponse>();

  constructor(
    private readonly log: Logger,
    private readonly options: HarnessOptions,
  ) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    assert(address !== null && address !== undefined, 'the harness is started');
    return `http://127.0.0.1:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'harness request failed');
        if (!res.headersSent) send(res, 500, { code: 'INTERNAL', message: String(err) });
        else res.destroy();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, '127.0.0.1', resolve);
    });
  }

  async stop(): Promise<void> {
    for (const stream of this.streams) stream.end();
    this.streams.clear();
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://harness').pathname;
    if (path === '/bridge/events' && req.method === 'GET') return this.events(req, res);
    if (path.startsWith('/bridge/') && req.method === 'POST') {
      const method = path.slice('/bridge/'.length);
      if (!isBridgeMethod(method)) return send(res, 404, { code: 'NOT_FOUND', message: method });
      const args = await readJson(req);
      if (!Array.isArray(args)) return send(res, 400, { code: 'VALIDATION', message: 'arguments array' });
      try {
        return send(res, 200, await this.options.bridge.call(method, args));
      } catch (err) {
        if (err instanceof DeskStoreError) return send(res, 400, { code: err.code, message: err.message });
        throw err;
      }
    }
    if (req.method === 'GET') return this.file(path === '/' ? '/index.html' : path, res);
    send(res, 404, { code: 'NOT_FOUND', message: path });
  }

  private async file(path: string, res: ServerResponse): Promise<void> {
    const relative = normalize(path).replace(/^([/\\]|\.\.)+/, '');
    const type = TYPES[extname(relative)];
    if (type === undefined) return send(res, 404, { code: 'NOT_FOUND', message: path });
    try {
      const body = await readFile(join(this.options.rendererDir, relative));
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      send(res, 404, { code: 'NOT_FOUND', message: path });
    }
  }

  private events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(': open\n\n');
    this.streams.add(res);
    const off = this.options.bridge.subscribe((event) => res.write(`data: ${JSON.stringify(event)}\n\n`));
    req.on('close', () => {
      off();
      this.streams.delete(res);
    });
  }
}
