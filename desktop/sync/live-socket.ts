import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { EntityType } from '../../shared/entities.ts';
import { WS_CLOSE, wsServerMessageSchema, type WsClientMessage } from '../../shared/protocol.ts';
import type { DeskStore } from '../store/index.ts';
import { currentToken, SyncHttpError, type TokenProvider } from './sync-http.ts';
import type { SyncStatusBoard } from './sync-status.ts';

/** How a live session ended. */
export type LiveEnd =
  /** The connection closed or went silent: catch up and connect again. */
  | 'closed'
  /** The server asked for a resync (message or 4410): bootstrap from the snapshot. */
  | 'resync'
  /** 4401 or 401: the token is not accepted. */
  | 'unauthorized'
  /** 4401 with reason TOKEN_REVOKED: an administrator revoked this desk's token. */
  | 'revoked'
  /** The server has no socket endpoint (404 …): catch up by polling instead. */
  | 'unavailable'
  /** stop() or end() was called. */
  | 'stopped';

export interface LiveSocketOptions {
  /** ws(s)://host/api/sync/ws */
  url: string;
  token: TokenProvider;
  entityTypes: EntityType[] | null;
  /** No ping or message for this long: the connection is taken as dead (the server pings every 15 s by default, sync rule intervals.wsPingMs). */
  silenceMs: number;
  /** The socket must open within this time. */
  connectTimeoutMs: number;
}

/** `http://host:port` → `ws://host:port/api/sync/ws`. */
export function socketUrlOf(serverUrl: string): string {
  const url = new URL(serverUrl.replace(/\/+$/, '') + '/api/sync/ws');
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * One live session of `/api/sync/ws`: hello with the stored cursor, then every `changes` message is applied
 * with its cursor in one SQLite transaction (in arrival order: the handler is synchronous) and acknowledged.
 */
export class LiveSocket {
  private current: WebSocket | null = null;
  /** end() was called while a session was starting (before its socket existed): it ends once it does. */
  private endRequested = false;

  constructor(
    private readonly log: Logger,
    private readonly deps: {
      store: DeskStore;
      status: SyncStatusBoard;
      options: LiveSocketOptions;
      /** Called after each applied message (cursor durable). */
      onApplied?: (count: number) => void;
    },
  ) {}

  /** Ends the open session, or the one starting (it resolves 'stopped'). */
  end(): void {
    this.endRequested = true;
    this.current?.close(1000, 'desk ended the session');
  }

  /** Runs a session until the socket closes. Rejects with a network SyncHttpError when it cannot open. */
  async session(signal: AbortSignal): Promise<LiveEnd> {
    const { store, status, options } = this.deps;
    this.endRequested = false;
    const token = await currentToken(options.token);
    if (this.endRequested) return 'stopped';
    const ws = new WebSocket(options.url, {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: options.connectTimeoutMs,
      perMessageDeflate: false,
    });
    this.current = ws;
    return new Promise<LiveEnd>((resolve, reject) => {
      let opened = false;
      let outcome: LiveEnd | null = null;
      let silence: NodeJS.Timeout | undefined;
      const alive = (): void => {
        clearTimeout(silence);
        silence = setTimeout(() => {
          this.log.info('live socket silent; dropping it');
          outcome ??= 'closed';
          ws.terminate();
        }, options.silenceMs);
        silence.unref();
      };
      const onAbort = (): void => {
        outcome ??= 'stopped';
        ws.close(1000, 'desk stopping');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (): void => {
        clearTimeout(silence);
        signal.removeEventListener('abort', onAbort);
        if (this.current === ws) this.current = null;
        status.update({ live: false });
      };

      ws.on('unexpected-response', (_request, response) => {
        const code = response.statusCode ?? 0;
        outcome = code === 401 || code === 403 ? 'unauthorized' : code >= 500 ? 'closed' : 'unavailable';
        response.resume();
        ws.terminate();
      });
      ws.on('open', () => {
        opened = true;
        alive();
        const hello: WsClientMessage = {
          type: 'hello',
          clientId: store.clientId,
          cursor: store.syncState().cursor,
          ...(options.entityTypes === null ? {} : { entityTypes: options.entityTypes }),
        };
        send(ws, hello);
        status.update({ live: true, online: true });
        this.log.debug({ cursor: hello.cursor }, 'live socket open');
      });
      ws.on('ping', alive);
      ws.on('message', (data: Buffer) => {
        alive();
        try {
          this.onMessage(ws, data, (end) => {
            outcome ??= end;
          });
        } catch (err) {
          // A message that cannot be applied is not skipped: drop the session and catch up over HTTP.
          this.log.error({ err }, 'live message could not be applied');
          outcome ??= 'closed';
          ws.terminate();
        }
      });
      ws.on('error', (err) => {
        if (!opened && outcome === null) {
          outcome = 'closed';
          finish();
          reject(
            new SyncHttpError('network', null, 'NETWORK', 'live socket could not connect', null, {
              cause: err,
            }),
          );
        }
      });
      ws.on('close', (code, reason) => {
        if (code === WS_CLOSE.RESYNC_REQUIRED) outcome = 'resync';
        else if (code === WS_CLOSE.UNAUTHORIZED && reason.toString('utf8') === 'TOKEN_REVOKED')
          outcome = 'revoked';
        else if (code === WS_CLOSE.UNAUTHORIZED) outcome ??= 'unauthorized';
        finish();
        if (!opened && outcome === null) {
          reject(new SyncHttpError('network', null, 'NETWORK', 'live socket closed before it opened'));
          return;
        }
        resolve(outcome ?? 'closed');
      });
    });
  }

  private onMessage(ws: WebSocket, data: Buffer, end: (how: LiveEnd) => void): void {
    const message = wsServerMessageSchema.parse(JSON.parse(data.toString('utf8')));
    if (message.type === 'changes') {
      this.deps.store.applyChanges(message.changes, message.cursor);
      this.deps.status.synced();
      this.deps.onApplied?.(message.changes.length);
      if (ws.readyState === WebSocket.OPEN) send(ws, { type: 'ack', cursor: message.cursor });
    } else if (message.type === 'resync') {
      end('resync');
    } else {
      this.log.warn({ message }, 'live socket error message');
    }
  }
}

/** Every frame the desk sends is a message of the shared contract. */
function send(ws: WebSocket, message: WsClientMessage): void {
  ws.send(JSON.stringify(message));
}
