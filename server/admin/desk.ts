import { parseArgs } from 'node:util';
import { listDeskTokens, revokeDeskToken, type DeskToken } from '../auth/desk-tokens.ts';
import { AdminError, parsing, required, UsageError, type Command } from './command.ts';
import { operatorName } from './operator.ts';
import { formatRows, type Column } from './output.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function state(desk: DeskToken, now: number): string {
  if (desk.revokedAt !== null) return `revoked ${desk.revokedAt} by ${desk.revokedBy ?? '?'}`;
  return Date.parse(desk.expiresAt) <= now ? 'expired' : 'active';
}

function deskColumns(now: number): Column<DeskToken>[] {
  return [
    { header: 'ID', value: (d) => d.id },
    { header: 'TENANT', value: (d) => d.tenantId },
    { header: 'DESK', value: (d) => d.deskName },
    { header: 'SIGNED', value: (d) => `${d.signedAt} by ${d.signedBy}` },
    { header: 'EXPIRES', value: (d) => d.expiresAt },
    { header: 'STATE', value: (d) => state(d, now) },
    {
      header: 'LAST CONTACT',
      value: (d) => (d.lastContactAt === null ? 'never' : `${d.lastContactAt} (${d.lastClientId ?? ''})`),
    },
  ];
}

function uuidArg(value: string, what: string): string {
  if (!UUID.test(value)) throw new UsageError(`${what} must be a UUID, got "${value}"`);
  return value.toLowerCase();
}

export const deskList: Command = {
  name: 'desk list',
  synopsis: '[--tenant ID] [--json]',
  summary: 'list registered desk tokens with their state and last contact',
  details: [
    '  --tenant ID   only the desks of this tenant',
    '  --json        an array of { id, tenantId, deskName, signedBy, signedAt, expiresAt, revokedAt,',
    '                revokedBy, lastContactAt, lastClientId } instead of a table',
    '',
    'Last contact is the latest /up, /down or /snapshot call with the token still in sync_log',
    '(kept retention.syncLogDays); "never" when there is none.',
  ].join('\n'),
  async run(args, ctx) {
    const { values } = parsing(() =>
      parseArgs({ args, options: { tenant: { type: 'string' }, json: { type: 'boolean' } }, strict: true }),
    );
    const tenantId = values.tenant === undefined ? undefined : uuidArg(values.tenant, '--tenant');
    const desks = await ctx.withDatabase((pool) =>
      listDeskTokens(pool, tenantId === undefined ? {} : { tenantId }),
    );
    const json = values.json === true;
    ctx.io.out(formatRows(desks, deskColumns(Date.now()), json));
    if (desks.length === 0 && !json) {
      ctx.io.err('no desk tokens yet: sign one with sync-admin token --tenant ID --role desk --desk NAME');
    }
  },
};

export const deskRevoke: Command = {
  name: 'desk revoke',
  synopsis: 'ID [--by NAME]',
  summary: 'revoke a desk token: every server node refuses it within 5 s and closes its sockets',
  details: [
    '  ID          the token id, from sync-admin desk list',
    '  --by NAME   who revokes it, recorded with the token (default: your login name)',
    '',
    'For good: the desk is told its access was revoked and needs a new token (sync-admin token).',
  ].join('\n'),
  async run(args, ctx) {
    const { values, positionals } = parsing(() =>
      parseArgs({ args, options: { by: { type: 'string' } }, allowPositionals: true, strict: true }),
    );
    if (positionals.length !== 1)
      throw new UsageError('give exactly one desk token ID (see sync-admin desk list)');
    const jti = uuidArg(required(positionals[0], 'ID'), 'ID');
    const by = values.by === undefined ? operatorName() : required(values.by, '--by');
    const result = await ctx.withDatabase((pool) => revokeDeskToken(pool, jti, by));
    switch (result.outcome) {
      case 'unknown':
        throw new AdminError(`no desk token ${jti}; see sync-admin desk list`);
      case 'already':
        ctx.io.err(
          `desk token ${jti} ("${result.token.deskName}") was already revoked ${result.token.revokedAt} by ${result.token.revokedBy}`,
        );
        return;
      case 'revoked':
        ctx.io.err(
          `revoked desk token ${jti} ("${result.token.deskName}", tenant ${result.token.tenantId}); ` +
            'every server refuses it within 5 s',
        );
    }
  },
};
