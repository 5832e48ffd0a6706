import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { roleSchema } from '../../shared/protocol.ts';
import { registerDeskToken } from '../auth/desk-tokens.ts';
import { parseDuration, signToken } from '../auth/tokens.ts';
import { migrate } from '../db/migrate.ts';
import { AdminError, parsing, required, UsageError, type Command } from './command.ts';
import { operatorName } from './operator.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * A desk runs for months and comes back after weeks offline: its token must outlive that. A person's token
 * (admin, dba) is a working day.
 */
const DEFAULT_TTL = { desk: '365d', person: '8h' } as const;
const DEFAULT_SUBJECT = 'cli';
const DEFAULT_DESK = 'unnamed desk';

export const token: Command = {
  name: 'token',
  synopsis: `--tenant ID --role ${roleSchema.options.join('|')} [--desk NAME] [--ttl TTL] [--sub USER] [--by NAME]`,
  summary: 'sign an access token for a tenant; prints the JWT',
  details: [
    '  --tenant ID   the id of an existing tenant (see sync-admin tenant list)',
    `  --role ROLE   ${roleSchema.options.join(', ')}`,
    `  --desk NAME   role desk only: the desk's name in sync-admin desk list (default "${DEFAULT_DESK}")`,
    `  --ttl TTL     lifetime such as 30m, 8h, 30d (default ${DEFAULT_TTL.desk} for a desk, ${DEFAULT_TTL.person} otherwise)`,
    `  --sub USER    the subject of the token, a user id (default ${DEFAULT_SUBJECT})`,
    '  --by NAME     role desk only: who signs it, recorded with the token (default: your login name)',
    '',
    'A desk token carries an id (jti) registered in the database with its desk, who signed it and when:',
    'sync-admin desk revoke ID cuts it off. Tokens of other roles are not registered and not revocable.',
    'Signed with SYNC_JWT_SECRET, which must be that of the server. Prints only the token on stdout:',
    '  TOKEN=$(sync-admin token --tenant "$TENANT" --role desk --desk "Front office")',
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
          desk: { type: 'string' },
          by: { type: 'string' },
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
    const desk = role.data === 'desk';
    for (const [option, value] of [
      ['--desk', values.desk],
      ['--by', values.by],
    ] as const) {
      if (!desk && value !== undefined) throw new UsageError(`${option} is for --role desk only`);
    }
    const deskName = values.desk === undefined ? DEFAULT_DESK : required(values.desk, '--desk');
    const signedBy = values.by === undefined ? operatorName() : required(values.by, '--by');
    const secret = ctx.jwtSecret();
    const jti = desk ? randomUUID() : undefined;
    const tenantId = await ctx.withDatabase(async (pool) => {
      const found = await pool.query<{ id: string }>('SELECT id::text FROM tenants WHERE id = $1', [
        tenantArg,
      ]);
      const id = found.rows[0]?.id;
      if (id === undefined || jti === undefined) return id;
      // desk_tokens may be newer than the server that created this database.
      await migrate(pool, ctx.log);
      const expiresAt = new Date((Math.floor(Date.now() / 1000) + ttlSeconds) * 1000);
      await registerDeskToken(pool, { jti, tenantId: id, deskName, signedBy, expiresAt });
      return id;
    });
    if (tenantId === undefined) {
      throw new AdminError(`tenant ${tenantArg.toLowerCase()} does not exist; see sync-admin tenant list`);
    }
    const claims = { sub, tenantId, role: role.data };
    ctx.io.out(await signToken(secret, jti === undefined ? claims : { ...claims, jti }, ttlSeconds));
    if (jti !== undefined) {
      ctx.io.err(
        `desk token ${jti} registered for "${deskName}"; revoke it with: sync-admin desk revoke ${jti}`,
      );
    }
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
