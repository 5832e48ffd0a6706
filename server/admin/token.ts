import { parseArgs } from 'node:util';
import { roleSchema } from '../../shared/protocol.ts';
import { parseDuration, signToken } from '../auth/tokens.ts';
import { AdminError, parsing, required, UsageError, type Command } from './command.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * A desk runs for months and comes back after weeks offline: its token must outlive that. A person's token
 * (admin, dba) is a working day.
 */
const DEFAULT_TTL = { desk: '365d', person: '8h' } as const;
const DEFAULT_SUBJECT = 'cli';

export const token: Command = {
  name: 'token',
  synopsis: `--tenant ID --role ${roleSchema.options.join('|')} [--ttl TTL] [--sub USER]`,
  summary: 'sign an access token for a tenant; prints the JWT',
  details: [
    '  --tenant ID   the id of an existing tenant (see sync-admin tenant list)',
    `  --role ROLE   ${roleSchema.options.join(', ')}`,
    `  --ttl TTL     lifetime such as 30m, 8h, 30d (default ${DEFAULT_TTL.desk} for a desk, ${DEFAULT_TTL.person} otherwise)`,
    `  --sub USER    the subject of the token, a user id (default ${DEFAULT_SUBJECT})`,
    '',
    'Signed with SYNC_JWT_SECRET, which must be that of the server. Prints only the token on stdout:',
    '  TOKEN=$(sync-admin token --tenant "$TENANT" --role desk)',
  ].join('\n'),
  async run(args, ctx) {
    const { values } = parsing(() =>
      parseArgs({
        args,
        options: {
          tenant: { type: 'string' },
          role: { type: 'string' },
          ttl: { type: 'string' },
          sub: { type: 'string', default: DEFAULT_SUBJECT },
        },
        strict: true,
      }),
    );
    const tenantArg = required(values.tenant, '--tenant');
    if (!UUID.test(tenantArg)) {
      throw new UsageError(
        `--tenant must be a tenant id (a UUID), got "${tenantArg}"; see sync-admin tenant list`,
      );
    }
    const roleArg = required(values.role, '--role');
    const role = roleSchema.safeParse(roleArg);
    if (!role.success) {
      throw new UsageError(`--role must be one of ${roleSchema.options.join(', ')}, got "${roleArg}"`);
    }
    const ttlSeconds = parseTtl(values.ttl ?? (role.data === 'desk' ? DEFAULT_TTL.desk : DEFAULT_TTL.person));
    const sub = required(values.sub, '--sub');
    const secret = ctx.jwtSecret();
    const tenantId = await ctx.withDatabase(async (pool) => {
      const found = await pool.query<{ id: string }>('SELECT id::text FROM tenants WHERE id = $1', [
        tenantArg,
      ]);
      return found.rows[0]?.id;
    });
    if (tenantId === undefined) {
      throw new AdminError(`tenant ${tenantArg.toLowerCase()} does not exist; see sync-admin tenant list`);
    }
    ctx.io.out(await signToken(secret, { sub, tenantId, role: role.data }, ttlSeconds));
  },
};

function parseTtl(text: string): number {
  let seconds: number;
  try {
    seconds = parseDuration(text);
  } catch (cause) {
    throw new UsageError(`--ttl: ${(cause as Error).message}`, { cause });
  }
  if (seconds <= 0) throw new UsageError(`--ttl must be longer than zero, got "${text}"`);
  return seconds;
}
