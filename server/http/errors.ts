import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '../../shared/protocol.ts';
import { ERROR_CODES, type ErrorCode } from '../../shared/errors.ts';
import { isTransientDatabaseError } from '../db/sqlstate.ts';
import { SyncError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The error body this request was answered with, for the request's sync_log row. */
    errorBody: ErrorBody | null;
  }
}

// Fastify's own errors, by code, mapped to the protocol's codes.
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
};

const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'NOT_READY',
};

/** Seconds a client is asked to wait after a 503 or 429 that does not say otherwise. */
const RETRY_AFTER_SECONDS = 2;

/** The protocol body for any error thrown while serving a request. Unknown errors are 500 INTERNAL. */
export function toErrorBody(error: unknown): ErrorBody {
  if (error instanceof SyncError) return error.toBody();
  const e = (typeof error === 'object' && error !== null ? error : {}) as Partial<FastifyError>;
  const mapped = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
  if (mapped !== undefined) return body(mapped, ERROR_CODES[mapped], e.message ?? mapped);
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    return body(STATUS_CODES[status] ?? 'BAD_REQUEST', status, e.message ?? 'bad request');
  }
  if (isTransientDatabaseError(error)) {
    return body('UNAVAILABLE', 503, 'the database is busy or restarting; nothing was applied, retry later');
  }
  return body('INTERNAL', 500, 'internal server error');
}

function body(code: ErrorCode, statusCode: number, message: string): ErrorBody {
  return { statusCode, code, message };
}

/** Every error, Fastify's own included, leaves as `{ statusCode, code, message, details? }`. */
export function installErrorHandling(app: FastifyInstance): void {
  app.decorateRequest('errorBody', null);
  app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const errorBody = toErrorBody(error);
    if (errorBody.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: errorBody.code, message: errorBody.message }, 'request rejected');
    return sendError(request, reply, errorBody);
  });
  app.setNotFoundHandler(async (request, reply) =>
    sendError(
      request,
      reply,
      body('NOT_FOUND', 404, `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );
}

export function sendError(request: FastifyRequest, reply: FastifyReply, errorBody: ErrorBody): FastifyReply {
  request.errorBody = errorBody;
  // PROTOCOL: a 503 or 429 says when to come back, so a desk retries on the server's terms.
  if ((errorBody.statusCode === 503 || errorBody.statusCode === 429) && !reply.hasHeader('retry-after')) {
    reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  }
  return reply.code(errorBody.statusCode).type('application/json; charset=utf-8').send(errorBody);
}

/** Once the server is closing, new requests get 503 NOT_READY (and the connection closes) until it has. */
export function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    return sendError(request, reply, body('NOT_READY', 503, 'the server is shutting down; retry shortly'));
  });
}
