import { z } from 'zod';
import type { OperatorCode } from '../../shared/errors.ts';

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  SYNC_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SYNC_CONFIG: z.string().min(1).optional(),
  SYNC_DATA_DIR: z.string().min(1).default('.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Env {
  port: number;
  host: string;
  /** Unset: the server runs an embedded Postgres under `dataDir`. */
  databaseUrl: string | undefined;
  /** SYNC_JWT_SECRET. Unset: the server may generate one (see jwt-secret.ts `serverJwtSecret`), or refuses. */
  jwtSecret: string | undefined;
  syncConfigPath: string | undefined;
  dataDir: string;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
}

/** Start-up cannot go on: every bad key is named in `problems` (code in shared/errors.ts OPERATOR_CODES). */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' satisfies OperatorCode;
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Every problem as `KEY: message`, so a bad config names each bad key at once. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
}

/** Parses the environment once at start-up. Empty strings count as unset. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) throw new ConfigError('environment', describeIssues(parsed.error));
  const env = parsed.data;
  return {
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    jwtSecret: env.SYNC_JWT_SECRET,
    syncConfigPath: env.SYNC_CONFIG,
    dataDir: env.SYNC_DATA_DIR,
    logLevel: env.LOG_LEVEL,
  };
}
