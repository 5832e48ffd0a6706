import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the proxy saw: its path, when, and its JSON body (null when empty). */
export interface ProxiedRequest {
  path: string;
  at: number;
  body: Record<string, unknown> | null;
}

/** An answer the proxy gives itself instead of forwarding. */
export interface OwnAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface TestProxy {
  url: string;
  seen: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * A real HTTP proxy in front of a real server: it notes every request and forwards it, unless `answer` gives
 * its own answer for it (a 503 with Retry-After, say).
 */
export async function startProxy(
  target: string,
  answer: (seen: ProxiedRequest) => OwnAnswer | null = () => null,
): Promise<TestProxy> {
  const seen: ProxiedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const entry: ProxiedRequest = {
        path: req.url ?? '/',
        at: Date.now(),
        body: raw.length === 0 ? null : (JSON.parse(raw.toString()) as Record<string, unknown>),
      };
      seen.push(entry);
      const own = answer(entry);
      if (own !== null) {
        res.writeHead(own.status, own.headers);
        res.end(own.body);
        return;
      }
      const upstream = request(
        `${target}${entry.path}`,
        { method: req.method, headers: req.headers },
        (reply) => {
          res.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
