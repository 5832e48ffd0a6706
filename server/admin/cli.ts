// Entry point of `sync-admin`: `npm run sync-admin -- ...` runs it with tsx, bin/sync-admin.mjs imports it.
import { COMMANDS } from './commands.ts';
import { createAdminContext } from './context.ts';
import { runCli } from './program.ts';

const ctx = createAdminContext({
  environment: process.env,
  io: {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
  },
});
// A reader that stops early (`sync-admin tenant list | head -1`) is not a failure of the command.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});
// exitCode rather than exit(): the process ends once stdout has drained.
process.exitCode = await runCli(process.argv.slice(2), ctx, COMMANDS);
