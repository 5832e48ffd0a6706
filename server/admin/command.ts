import type { AdminContext } from './context.ts';

/** One entry of the command table. Adding a command is adding an entry; the runner knows none by name. */
export interface Command {
  /** The words that select it: `token`, `tenant create`, later `publication add`, `slot recreate`. */
  readonly name: string;
  /** What follows the name in a usage line: `--name NAME`. */
  readonly synopsis: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Options and notes for `sync-admin help COMMAND`. */
  readonly details?: string;
  /** Receives the arguments after the name (help flags already handled). Results go to stdout only. */
  run(args: string[], ctx: AdminContext): Promise<void>;
}

/** The command line itself is wrong: exit status 2. The message names the problem. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command could not be carried out (database, unknown tenant ...): exit status 1. */
export class AdminError extends Error {
  override name = 'AdminError';
}

/** Runs node:util `parseArgs` (call it inside `fn`), turning its errors into a UsageError. */
export function parsing<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' '), { cause: error });
    }
    throw error;
  }
}

/** A required string option, trimmed and non-empty. */
export function required(value: string | undefined, option: string): string {
  const trimmed = value?.trim();
  if (trimmed === undefined || trimmed === '') throw new UsageError(`${option} is required`);
  return trimmed;
}
