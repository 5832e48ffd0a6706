import { ConfigError } from '../config/env.ts';
import { AdminError, UsageError, type Command } from './command.ts';
import type { AdminContext } from './context.ts';

export const EXIT_OK = 0;
/** The command was understood but failed: database unreachable or erroring, unknown tenant ... */
export const EXIT_FAILED = 1;
/** The command line or the environment is wrong; nothing was done. */
export const EXIT_USAGE = 2;

const HELP_FLAGS = new Set(['-h', '--help']);

/** Runs one sync-admin command line and returns the process exit status. Never throws. */
export async function runCli(
  argv: readonly string[],
  ctx: AdminContext,
  commands: readonly Command[],
): Promise<number> {
  const table = [...commands, helpCommand(commands)];
  let selected: Command | undefined;
  try {
    const first = argv[0];
    if (first === undefined) {
      ctx.io.err(generalHelp(table));
      return EXIT_USAGE;
    }
    if (HELP_FLAGS.has(first)) {
      ctx.io.out(generalHelp(table));
      return EXIT_OK;
    }
    const { command, args } = select(argv, table);
    selected = command;
    const beforeSeparator = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
    if (beforeSeparator.some((arg) => HELP_FLAGS.has(arg))) {
      ctx.io.out(commandHelp(command));
      return EXIT_OK;
    }
    await command.run(args, ctx);
    return EXIT_OK;
  } catch (error) {
    return report(error, selected, ctx);
  }
}

function report(error: unknown, command: Command | undefined, ctx: AdminContext): number {
  if (error instanceof UsageError) {
    ctx.io.err(`sync-admin: ${error.message}`);
    ctx.io.err(
      command === undefined
        ? 'run "sync-admin help" for the list of commands'
        : `usage: sync-admin ${command.name} ${command.synopsis}`.trimEnd(),
    );
    return EXIT_USAGE;
  }
  if (error instanceof ConfigError) {
    ctx.io.err(`sync-admin: ${error.message}`);
    return EXIT_USAGE;
  }
  if (error instanceof AdminError) {
    ctx.io.err(`sync-admin: ${error.message}`);
    return EXIT_FAILED;
  }
  // Not an error we expected: keep the stack, it is the only clue.
  ctx.io.err(`sync-admin: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return EXIT_FAILED;
}

/** The longest run of leading words that names a command; the rest are its arguments. */
function select(argv: readonly string[], table: readonly Command[]): { command: Command; args: string[] } {
  const longest = Math.max(...table.map((c) => c.name.split(' ').length));
  for (let n = Math.min(longest, argv.length); n > 0; n--) {
    const name = argv.slice(0, n).join(' ');
    const command = table.find((c) => c.name === name);
    if (command !== undefined) return { command, args: argv.slice(n) };
  }
  const [first = '', second] = argv;
  if (first.startsWith('-'))
    throw new UsageError(`unknown option "${first}": options come after the command`);
  const group = table.filter((c) => c.name.startsWith(`${first} `));
  if (group.length === 0) throw new UsageError(`unknown command "${first}"`);
  const choices = group.map((c) => c.name.slice(first.length + 1)).join(', ');
  throw new UsageError(
    second === undefined || second.startsWith('-')
      ? `"${first}" needs a subcommand: ${choices}`
      : `unknown command "${first} ${second}"; "${first}" has: ${choices}`,
  );
}

function helpCommand(commands: readonly Command[]): Command {
  return {
    name: 'help',
    synopsis: '[COMMAND]',
    summary: 'this text, or the options of one command',
    run(args, ctx) {
      const table = [...commands, this];
      if (args.length === 0) {
        ctx.io.out(generalHelp(table));
        return Promise.resolve();
      }
      const name = args.join(' ');
      const matching = table.filter((c) => c.name === name || c.name.startsWith(`${name} `));
      if (matching.length === 0) throw new UsageError(`no command "${name}"`);
      ctx.io.out(matching.map(commandHelp).join('\n\n'));
      return Promise.resolve();
    },
  };
}

function generalHelp(table: readonly Command[]): string {
  return [
    'sync-admin: operate the database of a school-sync server',
    '',
    'usage: sync-admin COMMAND [OPTIONS]',
    '',
    'commands:',
    ...table.flatMap((c) => [`  ${c.name} ${c.synopsis}`.trimEnd(), `      ${c.summary}`]),
    '',
    'environment:',
    '  DATABASE_URL     the Postgres to work on; unset: the embedded database of the server running',
    '                   on this folder (its URL is in SYNC_DATA_DIR/database-url while it runs)',
    '  SYNC_DATA_DIR    the data folder of the server (default .data)',
    '  SYNC_JWT_SECRET  the secret the server checks tokens with; unset: the development secret, with a warning',
    '',
    'Results alone go to stdout (an id, a token, a table, or JSON with --json); messages go to stderr.',
    'Exit status: 0 done, 1 failed (database, unknown tenant), 2 bad arguments or environment.',
    'From a checkout: npx sync-admin ... or npm run -s sync-admin -- ... (-s keeps the npm banner off stdout).',
  ].join('\n');
}

function commandHelp(command: Command): string {
  return [
    `usage: sync-admin ${command.name} ${command.synopsis}`.trimEnd(),
    '',
    command.summary,
    ...(command.details === undefined ? [] : ['', command.details]),
  ].join('\n');
}
