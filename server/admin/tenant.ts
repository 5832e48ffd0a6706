import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { migrate } from '../db/migrate.ts';
import { parsing, required, type Command } from './command.ts';
import { formatRows, type Column } from './output.ts';

interface TenantRow {
  id: string;
  name: string;
  createdAt: string;
}

const TENANT_COLUMNS: Column<TenantRow>[] = [
  { header: 'ID', value: (t) => t.id },
  { header: 'NAME', value: (t) => t.name },
  { header: 'CREATED', value: (t) => t.createdAt },
];

export const tenantCreate: Command = {
  name: 'tenant create',
  synopsis: '--name NAME',
  summary: 'create a tenant (a school); prints its id',
  details: [
    '  --name NAME   the name of the school (required; names need not be unique)',
    '',
    'Applies pending migrations first, so it works on a fresh database.',
    'Prints only the new tenant id on stdout:  TENANT=$(sync-admin tenant create --name "Lycée Victor Hugo")',
  ].join('\n'),
  async run(args, ctx) {
    const { values } = parsing(() =>
      parseArgs({ args, options: { name: { type: 'string' } }, strict: true }),
    );
    const name = required(values.name, '--name');
    await ctx.withDatabase(async (pool) => {
      const applied = await migrate(pool, ctx.log);
      if (applied.length > 0) ctx.io.err(`applied migrations: ${applied.join(', ')}`);
      const same = await pool.query<{ id: string }>('SELECT id::text FROM tenants WHERE name = $1', [name]);
      for (const { id } of same.rows) ctx.io.err(`note: tenant ${id} already has the name "${name}"`);
      const id = randomUUID();
      await pool.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, name]);
      ctx.io.out(id);
    });
  },
};

export const tenantList: Command = {
  name: 'tenant list',
  synopsis: '[--json]',
  summary: 'list tenants, oldest first',
  details: '  --json   an array of { id, name, createdAt } instead of a table',
  async run(args, ctx) {
    const { values } = parsing(() =>
      parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true }),
    );
    const rows = await ctx.withDatabase(async (pool) => {
      const result = await pool.query<{ id: string; name: string; created_at: Date }>(
        'SELECT id::text, name, created_at FROM tenants ORDER BY created_at, id',
      );
      return result.rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at.toISOString() }));
    });
    const json = values.json === true;
    ctx.io.out(formatRows(rows, TENANT_COLUMNS, json));
    if (rows.length === 0 && !json)
      ctx.io.err('no tenants yet: create one with sync-admin tenant create --name NAME');
  },
};
