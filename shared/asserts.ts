/**
 * Impossible states, said with a message (zero-cache `shared/src/asserts.ts`). A failed assertion is a bug
 * of this program, never a verdict on input: input errors carry a protocol code (SyncError) instead.
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === 'string' ? message : message());
}

/** `value`, asserted present. */
export function must<T>(value: T | null | undefined, message: string | (() => string)): T {
  assert(value !== null && value !== undefined, message);
  return value;
}
