/** Waiting on conditions, never on sleeps; no Postgres needed (the fast tier uses it too). */

/** Polls `check` until it returns a truthy value; fails with `message` after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`waitFor timed out: ${options.message ?? check.toString()}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 25));
  }
}
