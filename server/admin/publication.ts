import { parseArgs } from 'node:util';
import { ENTITY_TABLES } from '../../shared/entities.ts';
import {
  addToPublication,
  PublicationError,
  removeFromPublication,
  type PublicationChange,
} from '../ops/publication.ts';
import { AdminError, parsing, UsageError, type Command } from './command.ts';
import { formatJson } from './output.ts';

export const publicationAdd: Command = {
  name: 'publication add',
  synopsis: 'TABLE [--json]',
  summary: 'publish a table for capture (needs tenant_id; sets REPLICA IDENTITY FULL)',
  details: [
    '  TABLE    a table name, schema-qualified if needed (public.students)',
    '  --json   the change as { table, publication, changed, replicaIdentity, entityType }',
    '',
    'Refuses a table without a tenant_id column. Sets REPLICA IDENTITY FULL (an exclusive lock, given up',
    'after 10 s if the table is busy) and adds the table to the publication, in one transaction.',
    'Capture turns rows into changes only for the entity tables the sync rules sync.',
  ].join('\n'),
  async run(args, ctx) {
    const { table, json } = parseTableArgs(args, false);
    const rules = ctx.rules();
    const done = await publicationChange(() =>
      ctx.withDatabase((pool) => addToPublication(pool, rules.capture.publicationName, table)),
    );
    if (done.entityType === null || !rules.entityTypes.includes(done.entityType)) {
      ctx.io.err(
        `note: ${done.table} is not an entity table the sync rules sync: capture ignores its changes`,
      );
    }
    const what = done.changed ? `added ${done.table} to` : `${done.table} already is in`;
    ctx.io.out(json ? formatJson(done) : `${what} publication ${done.publication} (REPLICA IDENTITY FULL)`);
  },
};

export const publicationRemove: Command = {
  name: 'publication remove',
  synopsis: 'TABLE [--yes] [--json]',
  summary: 'stop publishing a table: its changes are no longer captured',
  details: [
    '  TABLE    a table name, schema-qualified if needed',
    '  --yes    do not ask: needed off a terminal for an entity table the sync rules sync',
    '  --json   the change as { table, publication, changed, replicaIdentity, entityType }',
    '',
    'While a synced entity table is out of the publication its changes reach no desk, and they are not',
    'recovered when it is added back. A starting server adds every synced entity table back.',
  ].join('\n'),
  async run(args, ctx) {
    const { table, json, yes } = parseTableArgs(args, true);
    const rules = ctx.rules();
    const name = unqualifiedName(table);
    if (!yes && rules.entityTypes.some((type) => ENTITY_TABLES[type] === name)) {
      const risk =
        `${table} is a synced entity table: while it is out of the publication its changes reach no desk, ` +
        'and they are not recovered when it is added back';
      if (!ctx.canAsk()) throw new UsageError(`${risk}. Add --yes to remove it anyway`);
      if (!(await ctx.confirm(`${risk}. Remove it?`))) throw new AdminError('nothing removed');
    }
    const done = await publicationChange(() =>
      ctx.withDatabase((pool) => removeFromPublication(pool, rules.capture.publicationName, table)),
    );
    const what = done.changed ? `removed ${done.table} from` : `${done.table} was not in`;
    ctx.io.out(json ? formatJson(done) : `${what} publication ${done.publication}`);
  },
};

function parseTableArgs(args: string[], acceptsYes: boolean): { table: string; json: boolean; yes: boolean } {
  const { values, positionals } = parsing(() =>
    parseArgs({
      args,
      options: { json: { type: 'boolean' }, ...(acceptsYes ? { yes: { type: 'boolean' as const } } : {}) },
      allowPositionals: true,
      strict: true,
    }),
  );
  const [table, ...extra] = positionals;
  if (table === undefined || table.trim() === '') throw new UsageError('TABLE is required');
  if (extra.length > 0) throw new UsageError(`one TABLE at a time, got "${positionals.join(' ')}"`);
  const flags = values as { json?: boolean; yes?: boolean };
  return { table: table.trim(), json: flags.json === true, yes: flags.yes === true };
}

/** The table part of `schema.table`, folded to lower case unless quoted, as Postgres reads it. */
function unqualifiedName(table: string): string {
  const last = /(?:^|\.)("(?:[^"]|"")+"|[^."]+)$/.exec(table)?.[1] ?? table;
  return last.startsWith('"') ? last.slice(1, -1).replaceAll('""', '"') : last.toLowerCase();
}

async function publicationChange(fn: () => Promise<PublicationChange>): Promise<PublicationChange> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof PublicationError) {
      throw new AdminError(`${error.code}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
