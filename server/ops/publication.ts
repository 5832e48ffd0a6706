import { entityTypeOfTable, type EntityType } from '../../shared/entities.ts';
import { inTransaction, quoteIdentifier, type Pool, type PoolClient } from '../db/pool.ts';
import { isPgError, SQLSTATE } from '../db/sqlstate.ts';
import type { OperatorCode } from '../../shared/errors.ts';

/** A publication change that cannot be made as asked; `code` is stable. */
export class PublicationError extends Error {
  constructor(
    readonly code: Extract<
      OperatorCode,
      'TABLE_NOT_FOUND' | 'NOT_A_TABLE' | 'NO_TENANT_ID' | 'SYNC_TABLE' | 'PUBLICATION_MISSING'
    >,
    message: string,
  ) {
    super(message);
    this.name = 'PublicationError';
  }
}

export interface PublicationChange {
  /** The table as Postgres names it (schema-qualified when not on the search path). */
  table: string;
  publication: string;
  /** false: it already was (add) or was not (remove) in the publication; nothing changed there. */
  changed: boolean;
  replicaIdentity: 'default' | 'nothing' | 'full' | 'index';
  /** The entity type capture makes of this table's rows, whether or not the sync rules sync it. */
  entityType: EntityType | null;
}

interface TableInfo {
  qualified: string;
  name: string;
  kind: string;
  replident: 'd' | 'n' | 'f' | 'i';
  hasTenantId: boolean;
  published: boolean;
}

const REPLICA_IDENTITY = { d: 'default', n: 'nothing', f: 'full', i: 'index' } as const;
const TABLE_KINDS = new Set(['r', 'p']);
// ALTER TABLE … REPLICA IDENTITY takes an exclusive lock: rather fail than queue behind a long transaction
// while every other writer of the table queues behind us.
const LOCK_TIMEOUT = '10s';

/**
 * Publishes a table for capture: it must exist and have a tenant_id column (capture routes every change by
 * it); its REPLICA IDENTITY becomes FULL, so an UPDATE carries unchanged large values and a DELETE the
 * whole old row. Both happen in one transaction.
 */
export async function addToPublication(
  pool: Pool,
  publicationName: string,
  table: string,
): Promise<PublicationChange> {
  return onTable(pool, publicationName, table, async (client, info) => {
    if (info.name.startsWith('sync_')) {
      throw new PublicationError(
        'SYNC_TABLE',
        `${info.qualified} is one of the sync engine's own tables; they are never published`,
      );
    }
    if (!info.hasTenantId) {
      throw new PublicationError(
        'NO_TENANT_ID',
        `${info.qualified} has no tenant_id column: capture could not tell which school a change belongs to`,
      );
    }
    if (info.replident !== 'f') await client.query(`ALTER TABLE ${info.qualified} REPLICA IDENTITY FULL`);
    if (!info.published) {
      await client.query(`ALTER PUBLICATION ${quoteIdentifier(publicationName)} ADD TABLE ${info.qualified}`);
    }
    return change(info, publicationName, !info.published, 'full');
  });
}

/** Takes a table out of the publication: from then on its changes are not captured. */
export async function removeFromPublication(
  pool: Pool,
  publicationName: string,
  table: string,
): Promise<PublicationChange> {
  return onTable(pool, publicationName, table, async (client, info) => {
    if (info.published) {
      await client.query(
        `ALTER PUBLICATION ${quoteIdentifier(publicationName)} DROP TABLE ${info.qualified}`,
      );
    }
    return change(info, publicationName, info.published, REPLICA_IDENTITY[info.replident]);
  });
}

/** Runs `fn` in one transaction that waits at most LOCK_TIMEOUT for a lock, on an existing publication and table. */
function onTable<T>(
  pool: Pool,
  publicationName: string,
  table: string,
  fn: (client: PoolClient, info: TableInfo) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    await requirePublication(client, publicationName);
    return fn(client, await tableInfo(client, publicationName, table));
  });
}

function change(
  info: TableInfo,
  publication: string,
  changed: boolean,
  replicaIdentity: PublicationChange['replicaIdentity'],
): PublicationChange {
  return {
    table: info.qualified,
    publication,
    changed,
    replicaIdentity,
    entityType: entityTypeOfTable(info.name) ?? null,
  };
}

async function requirePublication(client: PoolClient, name: string): Promise<void> {
  const found = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name]);
  if (found.rowCount === 0) {
    throw new PublicationError(
      'PUBLICATION_MISSING',
      `publication ${name} does not exist: start the server once (it creates the publication)`,
    );
  }
}

/** `table` as a user writes it (name, schema.name, "Quoted"), resolved like Postgres resolves it. */
async function tableInfo(client: PoolClient, publicationName: string, table: string): Promise<TableInfo> {
  let oid: number | null;
  try {
    const resolved = await client.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', [
      table,
    ]);
    oid = resolved.rows[0]?.oid ?? null;
  } catch (cause) {
    // to_regclass rejects what cannot be a name at all ('a b', 'x.y.z.w').
    if (!isPgError(cause, SQLSTATE.INVALID_NAME)) throw cause;
    oid = null;
  }
  if (oid === null) throw new PublicationError('TABLE_NOT_FOUND', `table ${table} does not exist`);
  const result = await client.query<TableInfo>(
    `SELECT c.oid::regclass::text AS qualified, c.relname AS name, c.relkind AS kind,
            c.relreplident AS replident,
            EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                       AND a.attnum > 0 AND NOT a.attisdropped) AS "hasTenantId",
            EXISTS (SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
                     WHERE p.pubname = $2 AND r.prrelid = c.oid) AS published
       FROM pg_class c WHERE c.oid = $1`,
    [oid, publicationName],
  );
  const info = result.rows[0];
  if (info === undefined) throw new PublicationError('TABLE_NOT_FOUND', `table ${table} does not exist`);
  if (!TABLE_KINDS.has(info.kind)) {
    throw new PublicationError('NOT_A_TABLE', `${info.qualified} is not a table (relkind ${info.kind})`);
  }
  return info;
}
