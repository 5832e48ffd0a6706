import { ERROR_CODES, type ErrorCode } from '../shared/errors.ts';

/** An error that maps 1:1 to a protocol error body: `{ statusCode, code, message, details? }`. */
export class SyncError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SyncError';
    this.statusCode = ERROR_CODES[code];
  }

  toBody(): { statusCode: number; code: string; message: string; details?: unknown } {
    return {
      statusCode: this.statusCode,
      code: this.code,
      message: this.message,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}
