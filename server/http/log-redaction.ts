import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

const TOKEN_PARAM = /([?&]access_token=)[^&#]*/gi;

/** A URL as logged: the `access_token` query parameter (WebSocket auth) replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  return url.replace(TOKEN_PARAM, '$1[redacted]');
}

/** Request as logged by Fastify: no headers at all (Authorization stays out), and a redacted URL. */
function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** The logger Fastify gets: tokens never reach the log, whichever way a request carries them. */
export function httpLogger(log: Logger): FastifyBaseLogger {
  return log.child(
    {},
    {
      serializers: { req: serializeRequest },
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          'req.query.access_token',
          'query.access_token',
        ],
        censor: '[redacted]',
      },
    },
  );
}
