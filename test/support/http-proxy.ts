import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

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
 * its own answer for it (a 503 with Retry-After, say). `delayMs` holds a request that long before it is
 * answered or forwarded (a slow link). WebSocket upgrades are passed through as they are, neither noted nor
 * delayed.
 */
export async function startProxy(
  target: string,
  answer: (seen: ProxiedRequest) => OwnAnswer | null = () => null,
  delayMs: (seen: ProxiedRequest) => number = () => 0,
): Promise<TestProxy> {
  const seen: ProxiedRequest[] = [];
  const tunnels = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const forward = (entry: ProxiedRequest, raw: Buffer): void => {
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
    };
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
      const delay = delayMs(entry);
      if (delay > 0) setTimeout(() => forward(entry, raw), delay);
      else forward(entry, raw);
    });
  });
  server.on('upgrade', (req, client: Socket, head: Buffer) => {
    const { hostname, port } = new URL(target);
    const upstream = connect(Number(port), hostname, () => {
      const headers = Object.entries(req.headers).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value ?? '']).map((v) => `${name}: ${v}\r\n`),
      );
      upstream.write(`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n${headers.join('')}\r\n`);
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      tunnels.add(socket);
      socket.on('close', () => tunnels.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        for (const socket of tunnels) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
