import type { IncomingMessage, ServerResponse } from 'node:http';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import { SyncError } from '../../errors.ts';
import type { TenantHub } from '../../fanout/tenant-hub.ts';
import { DeskSockets } from '../../socket/desk-sockets.ts';
import { deskSocketOptions, type DeskSocketOptions } from '../../socket/options.ts';
import type { ApiDeps } from '../app.ts';
import { bearerToken } from '../auth.ts';
import { sendError } from '../errors.ts';

export interface SyncSocketDeps extends Pick<ApiDeps, 'pool' | 'rules' | 'authenticator'> {
  hub: TenantHub;
  options?: Partial<DeskSocketOptions>;
}

/**
 * Adds GET /api/sync/ws and returns its sockets. The route is not behind the /api authentication hook: the
 * socket authenticates after the upgrade, so that a refusal is a close code the desk can read (4401) rather
 * than an HTTP status that WebSocket clients hide. On app.close() every socket closes with 1001 before the
 * server stops.
 */
export async function registerSyncSocket(
  app: FastifyInstance,
  log: Logger,
  deps: SyncSocketDeps,
): Promise<DeskSockets> {
  const options = deskSocketOptions(deps.rules, deps.options);
  const sockets = new DeskSockets({
    log,
    hub: deps.hub,
    pool: deps.pool,
    rules: deps.rules,
    authenticator: deps.authenticator,
    options,
  });
  // A desk that resets its connection is ordinary; the socket is gone either way. One function for all.
  const onSocketError = function (this: WebSocket, error: Error): void {
    log.debug({ err: error }, 'sync socket error');
    this.terminate();
  };
  await app.register(
    async (scope) => {
      await scope.register(websocket, {
        options: { maxPayload: options.maxMessageBytes, perMessageDeflate: false },
        errorHandler: (error, socket) => onSocketError.call(socket, error),
        preClose: function (this: FastifyInstance, done) {
          sockets.close().then(
            () => this.websocketServer.close(() => done()),
            (error: unknown) => done(error as Error),
          );
        },
      });
      scope.route({
        method: 'GET',
        url: '/sync/ws',
        handler: (request, reply) =>
          sendError(
            request,
            reply,
            new SyncError(
              'BAD_REQUEST',
              'this route speaks WebSocket only: send an upgrade request',
            ).toBody(),
          ),
        wsHandler: (socket, request) => {
          const token = bearerToken(request);
          releaseUpgradeRequest(socket, request.raw, onSocketError);
          sockets.accept(socket, token);
        },
      });
    },
    { prefix: '/api' },
  );
  return sockets;
}

/**
 * Lets the upgrade's HTTP objects go once the socket is open. @fastify/websocket keeps the request and its
 * reply alive through the socket's error listener, and the raw socket still points at the ServerResponse
 * it was assigned for routing: some kilobytes per idle desk, for nothing after the upgrade.
 */
function releaseUpgradeRequest(
  socket: WebSocket,
  raw: IncomingMessage,
  onError: (this: WebSocket, error: Error) => void,
): void {
  socket.removeAllListeners('error');
  socket.on('error', onError);
  const netSocket = raw.socket as typeof raw.socket & { _httpMessage?: ServerResponse | null };
  netSocket._httpMessage?.detachSocket(netSocket);
}
