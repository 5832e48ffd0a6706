import {
  camelCase,
  ENTITY_TABLES,
  ENTITY_TYPES,
  SERVER_MANAGED_COLUMNS,
  type EntityType,
} from '../../shared/entities.ts';
import type { Pool, PoolClient } from '../db/pool.ts';
import { must } from '../../shared/asserts.ts';

/** Columns of the entity tables as the database has them now (an ALTER TABLE shows up within `ttlMs`). */
export interface TableColumns {
  /** Every column, in table order. */
  all: string[];
  /** Columns an upload may write: all but the key and the server-managed ones. */
  writable: string[];
  /** Columns holding timestamps, whose JSON form is normalised to ISO 8601 UTC. */
  timestamps: Set<string>;
}

const TIMESTAMP_TYPES = new Set(['timestamptz', 'timestamp']);

export class ColumnCatalog {
  private cached: { at: number; tables: Map<string, TableColumns> } | undefined;

  constructor(private readonly ttlMs = 5_000) {}

  async get(db: Pool | PoolClient, type: EntityType): Promise<TableColumns> {
    const now = Date.now();
    if (this.cached === undefined || now - this.cached.at > this.ttlMs) {
      this.cached = { at: now, tables: await readColumns(db) };
    }
    return must(
      this.cached.tables.get(ENTITY_TABLES[type]),
      () => `entity table ${ENTITY_TABLES[type]} is missing`,
    );
  }
}

async function readColumns(db: Pool | PoolClient): Promise<Map<string, TableColumns>> {
  const result = await db.query<{ table_name: string; column_name: string; type_name: string }>(
    `SELECT c.relname AS table_name, a.attname AS column_name, t.typname AS type_name
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_type t ON t.oid = a.atttypid
      WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1::text[])
        AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    [ENTITY_TYPES.map((type) => ENTITY_TABLES[type])],
  );
  const tables = new Map<string, TableColumns>();
  for (const row of result.rows) {
    let table = tables.get(row.table_name);
    if (table === undefined) {
      table = { all: [], writable: [], timestamps: new Set() };
      tables.set(row.table_name, table);
    }
    table.all.push(row.column_name);
    if (!SERVER_MANAGED_COLUMNS.has(row.column_name)) table.writable.push(row.column_name);
    if (TIMESTAMP_TYPES.has(row.type_name)) table.timestamps.add(row.column_name);
  }
  return tables;
}

/**
 * A row as `to_jsonb(t)` gives it → the entity payload desks see: camelCase keys, timestamps in ISO 8601 UTC,
 * hidden fields left out.
 */
export function rowToPayload(
  row: Record<string, unknown>,
  columns: TableColumns,
  hidden: readonly string[] = [],
): Record<string, unknown> {
  const payload: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) {
    const field = camelCase(column);
    if (hidden.includes(field)) continue;
    payload[field] =
      typeof value === 'string' && columns.timestamps.has(column) ? new Date(value).toISOString() : value;
  }
  return payload;
}
