import { parseArgs } from 'node:util';
import { entityTypeSchema, ENTITY_TYPES, type EntityType } from '../../shared/entities.ts';
import type { HistoryEntry } from '../../shared/protocol.ts';
import type { Pool } from '../db/pool.ts';
import { readHistory } from '../history/read.ts';
import { SyncError } from '../errors.ts';
import { AdminError, parsing, UsageError, type Command } from './command.ts';
import { formatJson, formatTable, type Column } from './output.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Every entry the server keeps for one record, read as the endpoint pages them. */
const PAGE = 500;

/** A value as a person reads it in a table cell. */
function shown(value: unknown): string {
  if (value === null || value === undefined) return '∅';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function who(entry: HistoryEntry): string {
  return entry.origin.kind === 'DESK' ? (entry.origin.userId ?? '?') : 'server';
}

/** Desk names by client id, as deskNames reads them. */
type DeskNames = ReadonlyMap<string, string>;

/** The desk by its registered name when known ("desk Secretariat-2 (client 7c…)"), else its client id. */
function where(entry: HistoryEntry, names: DeskNames): string {
  if (entry.origin.kind === 'SERVER') return 'server (web app, script, psql)';
  const clientId = entry.origin.clientId;
  const name = clientId === undefined ? undefined : names.get(clientId);
  const desk =
    name === undefined || name === clientId ? `desk ${clientId ?? '?'}` : `desk ${name} (client ${clientId})`;
  return entry.editedAt === undefined ? desk : `${desk}, edited ${entry.editedAt}`;
}

function what(entry: HistoryEntry): string {
  const decided =
    entry.decision === 'ACCEPT_SERVER'
      ? "kept the server's version after a conflict"
      : entry.decision === 'KEEP_LOCAL'
        ? 'kept the desk version after a conflict: '
        : '';
  const fields = Object.entries(entry.changes).map(
    ([field, { from, to }]) => `${field} ${shown(from)} → ${shown(to)}`,
  );
  return `${decided}${fields.join('; ')}`;
}

function columns(names: DeskNames): Column<HistoryEntry>[] {
  return [
    { header: 'WHEN', value: (e) => e.committedAt },
    { header: 'VERSION', value: (e) => String(e.serverVersion) },
    { header: 'OPERATION', value: (e) => e.operation },
    { header: 'WHO', value: who },
    { header: 'FROM WHERE', value: (e) => where(e, names) },
    { header: 'WHAT CHANGED', value: what },
  ];
}

/**
 * The registered desk name (sync-admin token --desk) of each client id, from the desk token it last
 * contacted the server with (sync_log.token_id, kept retention.syncLogDays). A client id that used no
 * registered token in that time has none, and is shown as it is.
 */
async function deskNames(pool: Pool, tenantId: string, entries: readonly HistoryEntry[]): Promise<DeskNames> {
  const clientIds = [
    ...new Set(entries.flatMap((e) => (e.origin.clientId === undefined ? [] : [e.origin.clientId]))),
  ];
  if (clientIds.length === 0) return new Map();
  const found = await pool.query<{ client_id: string; desk_name: string }>(
    `SELECT DISTINCT ON (l.client_id) l.client_id, t.desk_name
       FROM sync_log l JOIN desk_tokens t ON t.jti = l.token_id AND t.tenant_id = l.tenant_id
      WHERE l.tenant_id = $1 AND l.client_id = ANY($2::text[]) AND l.token_id IS NOT NULL
      ORDER BY l.client_id, l.started_at DESC`,
    [tenantId, clientIds],
  );
  return new Map(found.rows.map((r) => [r.client_id, r.desk_name]));
}

/** The tenants holding a record of that id: from its history, else its current row. */
async function tenantsOf(pool: Pool, type: EntityType, id: string): Promise<string[]> {
  const found = await pool.query<{ tenant_id: string }>(
    `SELECT DISTINCT tenant_id::text FROM sync_record_history WHERE entity_id = $1 AND entity_type = $2`,
    [id, type],
  );
  return found.rows.map((r) => r.tenant_id);
}

async function allEntries(
  pool: Pool,
  where: { tenantId: string; type: EntityType; id: string; hidden: readonly string[] | undefined },
): Promise<HistoryEntry[]> {
  const entries: HistoryEntry[] = [];
  let before: string | undefined;
  do {
    const page = await readHistory(pool, {
      tenantId: where.tenantId,
      entityType: where.type,
      entityId: where.id,
      limit: PAGE,
      before,
      hidden: where.hidden,
    });
    entries.push(...page.entries);
    before = page.before;
  } while (before !== undefined);
  return entries;
}

export const history: Command = {
  name: 'history',
  synopsis: 'TYPE ID [--tenant ID] [--json]',
  summary: 'who changed a record, when, from where, and what changed from → to (newest first)',
  details: [
    `  TYPE          ${ENTITY_TYPES.join(' ')}`,
    '  ID            the record id (UUID)',
    '  --tenant ID   the tenant; needed only when two tenants hold a record of that id',
    '  --json        the entries as POST /api/sync/history answers them',
    '',
    'History is kept retention.historyDays (default 400) of the sync-rules file, whatever sync_events',
    'keeps. "server" is any writer other than a desk upload (web app, script, psql). A desk is named as',
    'its desk token was registered (token --desk), when it used one within retention.syncLogDays.',
  ].join('\n'),
  async run(args, ctx) {
    const { values, positionals } = parsing(() =>
      parseArgs({
        args,
        options: { tenant: { type: 'string' }, json: { type: 'boolean' } },
        allowPositionals: true,
        strict: true,
      }),
    );
    if (positionals.length !== 2) throw new UsageError('give a TYPE and an ID, e.g. history GRADE 5f0c…');
    const type = entityTypeSchema.safeParse(positionals[0]?.toUpperCase());
    if (!type.success) throw new UsageError(`TYPE must be one of ${ENTITY_TYPES.join(', ')}`);
    const id = positionals[1]!;
    if (!UUID.test(id)) throw new UsageError(`ID must be a UUID, got "${id}"`);
    if (values.tenant !== undefined && !UUID.test(values.tenant)) {
      throw new UsageError(`--tenant must be a UUID, got "${values.tenant}"`);
    }
    const entityId = id.toLowerCase();
    const hidden = ctx.rules().hiddenFields[type.data];
    const { entries, names } = await ctx.withDatabase(async (pool) => {
      let tenantId = values.tenant?.toLowerCase();
      if (tenantId === undefined) {
        const tenants = await tenantsOf(pool, type.data, entityId);
        if (tenants.length > 1) {
          throw new AdminError(`${tenants.length} tenants hold ${type.data} ${entityId}: give --tenant`);
        }
        tenantId = tenants[0];
        if (tenantId === undefined) throw new AdminError(`no history of ${type.data} ${entityId}`);
      }
      try {
        const entries = await allEntries(pool, { tenantId, type: type.data, id: entityId, hidden });
        return {
          entries,
          names: values.json === true ? new Map() : await deskNames(pool, tenantId, entries),
        };
      } catch (error) {
        if (error instanceof SyncError && error.code === 'UNKNOWN_ENTITY') {
          throw new AdminError(`no ${type.data} ${entityId} in tenant ${tenantId}`, { cause: error });
        }
        throw error;
      }
    });
    if (values.json === true) {
      ctx.io.out(formatJson(entries));
      return;
    }
    ctx.io.out(formatTable(entries, columns(names)));
    if (entries.length === 0)
      ctx.io.err('the record exists, but its history is gone (retention.historyDays)');
  },
};
