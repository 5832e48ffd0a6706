import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { wsServerMessageSchema, type Change, type WsServerMessage } from '../../shared/protocol.ts';
import { waitFor } from './db.ts';

export interface DeskOptions {
  token?: string;
  /** Where the token travels (default: the Authorization header). */
  tokenIn?: 'header' | 'query';
  /** Sent on open; a string is sent as is; null sends nothing. Default: a hello with `cursor`. */
  hello?: Record<string, unknown> | string | null;
  cursor?: string | null;
  entityTypes?: string[];
  clientId?: string;
  /** false: never answer pings (a silent peer). */
  autoPong?: boolean;
  /** Check every message against the shared schema (default true). */
  validate?: boolean;
}

/**
 * A desk as the server sees one: a real `ws` socket that sends a hello and records what comes back, with
 * the cursor it would persist (that of the last `changes` message it received).
 */
export class TestDesk {
  readonly messages: WsServerMessage[] = [];
  readonly changes: Change[] = [];
  cursor: string | null;
  closeCode: number | null = null;
  closeReason = '';
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  invalid: unknown = null;
  /** Bytes of every message received. */
  bytes = 0;
  #cut = false;

  constructor(
    readonly ws: WebSocket,
    options: DeskOptions,
  ) {
    this.cursor = options.cursor ?? null;
    const validate = options.validate ?? true;
    ws.on('message', (data) => {
      // A desk that lost its connection applies nothing more from it.
      if (this.#cut) return;
      // The client gets Buffers (the default binaryType, and the server sends no fragments).
      const text = data as Buffer;
      this.bytes += text.length;
      const json: unknown = JSON.parse(text.toString('utf8'));
      const parsed = validate
        ? wsServerMessageSchema.safeParse(json)
        : { success: true as const, data: json };
      if (!parsed.success) {
        this.invalid ??= { json, error: parsed.error };
        return;
      }
      const message = parsed.data as WsServerMessage;
      this.messages.push(message);
      if (message.type === 'changes') {
        for (const change of message.changes) this.changes.push(change);
        this.cursor = message.cursor;
      }
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve({ code, reason: this.closeReason });
      });
    });
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    // A desk cut before it opened is an ordinary outcome; tests that care await `opened`.
    this.opened.catch(() => undefined);
    ws.once('open', () => {
      const hello =
        options.hello === undefined
          ? {
              type: 'hello',
              clientId: options.clientId ?? 'desk-1',
              cursor: this.cursor,
              ...(options.entityTypes === undefined ? {} : { entityTypes: options.entityTypes }),
            }
          : options.hello;
      if (hello !== null) ws.send(typeof hello === 'string' ? hello : JSON.stringify(hello));
    });
  }

  static open(wsUrl: string, options: DeskOptions = {}): TestDesk {
    const headers: Record<string, string> = {};
    let url = wsUrl;
    if (options.token !== undefined) {
      if (options.tokenIn === 'query') url += `?access_token=${encodeURIComponent(options.token)}`;
      else headers.authorization = `Bearer ${options.token}`;
    }
    const ws = new WebSocket(url, { headers, autoPong: options.autoPong ?? true });
    return new TestDesk(ws, options);
  }

  get ids(): string[] {
    return this.changes.map((c) => c.id);
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Waits until the desk has received `count` changes in all. */
  async waitForChanges(count: number, timeoutMs = 15_000): Promise<void> {
    await waitFor(() => this.changes.length >= count || this.closeCode !== null, {
      timeoutMs,
      message: `desk received ${count} changes`,
    });
    if (this.changes.length < count) {
      throw new Error(
        `desk closed (${this.closeCode} ${this.closeReason}) after ${this.changes.length} changes`,
      );
    }
  }

  /** Cuts the connection without a close handshake, as a network loss does. */
  cut(): void {
    this.#cut = true;
    this.ws.terminate();
  }

  async close(): Promise<void> {
    if (this.closeCode === null) {
      this.ws.close();
      await this.closed;
    }
  }
}

/**
 * A desk on a raw TCP socket that upgrades, sends its hello, and then never reads again: the server's
 * writes pile up in the kernel and then in the server's own socket buffer.
 */
export async function openNonReadingDesk(
  wsUrl: string,
  token: string,
  hello: Record<string, unknown>,
): Promise<Socket> {
  const url = new URL(wsUrl);
  const socket = connect(Number(url.port), url.hostname);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${token}\r\n\r\n`,
  );
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve();
      else reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
    };
    socket.on('data', onData);
  });
  socket.pause();
  socket.write(maskedTextFrame(JSON.stringify(hello)));
  return socket;
}

function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('test frames are short');
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}
