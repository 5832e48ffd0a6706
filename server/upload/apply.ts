import { ENTITY_TYPES, type EntityType } from '../../shared/entities.ts';
import { quoteIdentifier, type PoolClient } from '../db/pool.ts';
import type { ColumnCatalog } from './columns.ts';
import { tableOf, type PlannedWrite, type WriteKind } from './plan.ts';
import { must } from '../../shared/asserts.ts';

const TYPE_RANK = new Map(ENTITY_TYPES.map((type, index) => [type, index]));
const KIND_RANK: Record<WriteKind, number> = { insert: 0, update: 1, delete: 2 };

/**
 * Writes rows of one table with one statement: an INSERT or UPDATE from jsonb_populate_recordset, or a
 * DELETE by id. Sets each write's `version` from RETURNING (deletes already carry theirs).
 */
async function writeGroup(
  client: PoolClient,
  catalog: ColumnCatalog,
  tenantId: string,
  kind: WriteKind,
  type: EntityType,
  writes: PlannedWrite[],
): Promise<void> {
  const table = quoteIdentifier(tableOf(type));
  if (kind === 'delete') {
    await client.query(`DELETE FROM ${table} WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, [
      tenantId,
      writes.map((w) => w.entityId),
    ]);
    return;
  }
  const { writable } = await catalog.get(client, type);
  const present = new Set(writes.flatMap((w) => Object.keys(w.row ?? {})));
  const columns = writable.filter((column) => present.has(column)).map(quoteIdentifier);
  const rows = JSON.stringify(writes.map((w) => w.row));
  let sql: string;
  if (kind === 'insert') {
    const list = ['tenant_id', 'id', ...columns].join(', ');
    sql = `INSERT INTO ${table} (${list}) SELECT ${list} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)
           RETURNING id, server_version`;
  } else {
    const set =
      columns.length === 0
        ? 'updated_at = now()'
        : `(${columns.join(', ')}) = ROW(${columns.map((c) => `r.${c}`).join(', ')})`;
    sql = `UPDATE ${table} AS t SET ${set} FROM jsonb_populate_recordset(NULL::${table}, $2::jsonb) AS r
           WHERE t.tenant_id = $1 AND t.id = r.id RETURNING t.id, t.server_version`;
  }
  const params = kind === 'insert' ? [rows] : [tenantId, rows];
  const result = await client.query<{ id: string; server_version: number }>(sql, params);
  const versions = new Map(result.rows.map((r) => [r.id, r.server_version]));
  for (const write of writes) {
    write.version = must(
      versions.get(write.entityId),
      () => `${kind} of ${type} ${write.entityId} wrote no row`,
    );
  }
}

/**
 * Applies planned writes with as few statements as the data allows. Writes to one entity go in waves
 * (its first write in wave 0, its second in wave 1 …) so a multi-row statement never touches a row twice;
 * inside a wave, inserts go parents first, then updates, then deletes children first, so that foreign keys
 * hold between the statements. Rows of one table whose payloads name different columns go in separate
 * statements, so a column the desk did not send keeps its default.
 */
export async function applyWrites(
  client: PoolClient,
  catalog: ColumnCatalog,
  tenantId: string,
  writes: PlannedWrite[],
): Promise<void> {
  const waveOf = new Map<string, number>();
  const groups = new Map<
    string,
    { wave: number; kind: WriteKind; type: EntityType; writes: PlannedWrite[] }
  >();
  for (const write of writes) {
    const key = `${write.type}:${write.entityId}`;
    const wave = waveOf.get(key) ?? 0;
    waveOf.set(key, wave + 1);
    const shape = write.row === null ? '' : Object.keys(write.row).sort().join(',');
    const groupKey = `${wave}|${write.kind}|${write.type}|${shape}`;
    let group = groups.get(groupKey);
    if (group === undefined) {
      group = { wave, kind: write.kind, type: write.type, writes: [] };
      groups.set(groupKey, group);
    }
    group.writes.push(write);
  }
  const ordered = [...groups.values()].sort((a, b) => {
    if (a.wave !== b.wave) return a.wave - b.wave;
    if (a.kind !== b.kind) return KIND_RANK[a.kind] - KIND_RANK[b.kind];
    const rank = (TYPE_RANK.get(a.type) ?? 0) - (TYPE_RANK.get(b.type) ?? 0);
    return a.kind === 'delete' ? -rank : rank;
  });
  for (const group of ordered)
    await writeGroup(client, catalog, tenantId, group.kind, group.type, group.writes);
}

/** Applies one write on its own (the careful path, used under a savepoint). */
export async function applyOne(
  client: PoolClient,
  catalog: ColumnCatalog,
  tenantId: string,
  write: PlannedWrite,
): Promise<void> {
  await writeGroup(client, catalog, tenantId, write.kind, write.type, [write]);
}
