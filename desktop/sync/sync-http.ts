import type { Logger } from 'pino';
import type { z } from 'zod';
import { parseRetryAfter } from '../../shared/timing.ts';

/** A bearer token, or a function that returns the current one (called before every request). */
export type TokenProvider = string | (() => string | Promise<string>);

export async function currentToken(provider: TokenProvider): Promise<string> {
  return typeof provider === 'string' ? provider : provider();
}

/**
 * A failed call to the server. `kind` network: no answer at all (offline, refused, timed out); http: an
 * error status with the protocol's `code`; protocol: a 2xx body that does not follow PROTOCOL.
 */
export class SyncHttpError extends Error {
  constructor(
    readonly kind: 'network' | 'http' | 'protocol',
    readonly status: number | null,
    readonly code: string,
    message: string,
    readonly retryAfterMs: number | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SyncHttpError';
  }

  /** Worth trying again later as is: no answer, 408, 429 or any 5xx. */
  get retryable(): boolean {
    return (
      this.kind === 'network' ||
      this.status === 408 ||
      this.status === 429 ||
      (this.status !== null && this.status >= 500)
    );
  }
}

export interface SyncHttpOptions {
  serverUrl: string;
  token: TokenProvider;
  /** A request without an answer for this long is abandoned as a network failure. */
  timeoutMs: number;
}

/** JSON over HTTP to the sync server; every failure becomes a SyncHttpError. */
export class SyncHttp {
  private readonly base: string;

  constructor(
    private readonly log: Logger,
    private readonly options: SyncHttpOptions,
  ) {
    this.base = options.serverUrl.replace(/\/+$/, '');
  }

  /** POSTs `body` and parses the answer with `parse` (a shared zod schema's, see withSchema). */
  post<T>(path: string, body: unknown, parse: (json: unknown) => T, signal?: AbortSignal): Promise<T> {
    return this.postDecoded(path, body, (text) => parse(JSON.parse(text)), signal);
  }

  /**
   * POSTs `body` and turns the answer's text into its value with `decode`, which may do so on another
   * thread (PageDecoder); an answer it refuses is a protocol error.
   */
  async postDecoded<T>(
    path: string,
    body: unknown,
    decode: (text: string) => T | Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await currentToken(this.options.token)}`,
        },
        body: JSON.stringify(body),
        signal: combined,
      });
      text = await response.text();
    } catch (err) {
      throw new SyncHttpError('network', null, 'NETWORK', `no answer from ${path}`, null, { cause: err });
    }
    if (!response.ok) {
      const error = errorOf(response, text, path);
      this.log.debug({ path, status: response.status, code: error.code }, 'sync request failed');
      throw error;
    }
    try {
      return await decode(text);
    } catch (err) {
      throw new SyncHttpError(
        'protocol',
        response.status,
        'BAD_RESPONSE',
        `unexpected answer from ${path}`,
        null,
        {
          cause: err,
        },
      );
    }
  }
}

function errorOf(response: Response, text: string, path: string): SyncHttpError {
  let code = `HTTP_${response.status}`;
  let message = `${path} answered ${response.status}`;
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not a protocol error body (a proxy's page): the status says enough.
  }
  return new SyncHttpError(
    'http',
    response.status,
    code,
    message,
    parseRetryAfter(response.headers.get('retry-after')),
  );
}

/** A zod schema as a parse function. */
export function withSchema<S extends z.ZodType>(schema: S): (json: unknown) => z.infer<S> {
  return (json) => schema.parse(json);
}
