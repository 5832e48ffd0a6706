import type Database from 'better-sqlite3';
import type { EntityPayloads, EntityType } from '../../shared/entities.ts';

/** An entity as the screens see it: the server's payload plus the version the desk last saw. */
export type Entity<T extends EntityType> = EntityPayloads[T] & { serverVersion: number };

export interface EntityRow {
  entity_type: EntityType;
  id: string;
  tenant_id: string;
  server_version: number;
  deleted: 0 | 1;
  local_doc: 0 | 1;
  doc: string;
  updated_at: string | null;
}

/** Positional parameters shared by the server upsert and the held-change upsert. */
export type ServerRowParams = [
  type: EntityType,
  id: string,
  tenantId: string,
  serverVersion: number,
  deleted: 0 | 1,
  doc: string,
  updatedAt: string | null,
  searchKey: string | null,
];

const PEOPLE: ReadonlySet<EntityType> = new Set(['STUDENT', 'TEACHER']);
const COMBINING_MARKS = /[\u0300-\u036f]/g;
const APOSTROPHES = /['\u2019]/g;
const SEPARATORS = /[^\p{L}\p{N}]+/gu;

/**
 * Folds case and accents and splits on punctuation, so that "emile" finds "Émile", "emery" finds
 * "Dupont-Émery" and "ndiaye" finds "N'Diaye". Queries are folded the same way.
 */
export function foldForSearch(text: string): string {
  return text
    .normalize('NFD')
    .replace(COMBINING_MARKS, '')
    .toLowerCase()
    .replace(APOSTROPHES, '')
    .replace(SEPARATORS, ' ')
    .trim();
}

export function searchKeyOf(type: EntityType, doc: Record<string, unknown>): string | null {
  if (!PEOPLE.has(type)) return null;
  const last = typeof doc.lastName === 'string' ? doc.lastName : '';
  const first = typeof doc.firstName === 'string' ? doc.firstName : '';
  return foldForSearch(`${last} ${first}`);
}

export function rowToEntity<T extends EntityType>(
  row: Pick<EntityRow, 'doc' | 'server_version' | 'updated_at'>,
): Entity<T> {
  const doc = JSON.parse(row.doc) as Record<string, unknown>;
  // The doc is what the server sent (or what this desk validated before writing it): trusted as typed.
  return {
    ...doc,
    serverVersion: row.server_version,
    ...(row.updated_at === null ? {} : { updatedAt: row.updated_at }),
  } as Entity<T>;
}

/**
 * A server change replaces the row only if it is newer, or if it is the server's own copy of the version
 * this desk wrote (the echo of an acknowledged upload, carrying server-set fields).
 */
const SERVER_GUARD = `excluded.server_version > entities.server_version
  OR (excluded.server_version = entities.server_version AND entities.local_doc = 1)`;

/** Prepared statements over `entities` and `held_changes`. */
export class EntityStore {
  readonly upsertFromServer: Database.Statement<ServerRowParams>;
  readonly hold: Database.Statement<ServerRowParams>;
  private readonly releaseHeldStmt: Database.Statement<[EntityType, string]>;
  private readonly dropHeld: Database.Statement<[EntityType, string]>;
  private readonly getRowStmt: Database.Statement<[EntityType, string], EntityRow>;
  private readonly writeLocalStmt: Database.Statement<
    [EntityType, string, string, number, 0 | 1, string, string, string | null]
  >;
  private readonly ackStmt: Database.Statement<[number, 0 | 1, EntityType, string, number]>;
  private readonly clearTypeStmt: Database.Statement<[EntityType, EntityType]>;
  private readonly putServerCopyStmt: Database.Statement<ServerRowParams>;
  private readonly tombstoneStmt: Database.Statement<[string, EntityType, string]>;

  constructor(db: Database.Database) {
    this.upsertFromServer = db.prepare(`
      INSERT INTO entities (entity_type, id, tenant_id, server_version, deleted, local_doc, doc, updated_at, search_key)
      VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)
      ON CONFLICT (entity_type, id) DO UPDATE SET
        tenant_id = excluded.tenant_id, server_version = excluded.server_version, deleted = excluded.deleted,
        local_doc = 0, doc = excluded.doc, updated_at = excluded.updated_at, search_key = excluded.search_key
      WHERE ${SERVER_GUARD}`);
    this.hold = db.prepare(`
      INSERT INTO held_changes (entity_type, id, tenant_id, server_version, deleted, doc, updated_at, search_key)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (entity_type, id) DO UPDATE SET
        tenant_id = excluded.tenant_id, server_version = excluded.server_version, deleted = excluded.deleted,
        doc = excluded.doc, updated_at = excluded.updated_at, search_key = excluded.search_key
      WHERE excluded.server_version > held_changes.server_version`);
    this.releaseHeldStmt = db.prepare(`
      INSERT INTO entities (entity_type, id, tenant_id, server_version, deleted, local_doc, doc, updated_at, search_key)
      SELECT entity_type, id, tenant_id, server_version, deleted, 0, doc, updated_at, search_key
      FROM held_changes WHERE entity_type = ? AND id = ?
      ON CONFLICT (entity_type, id) DO UPDATE SET
        tenant_id = excluded.tenant_id, server_version = excluded.server_version, deleted = excluded.deleted,
        local_doc = 0, doc = excluded.doc, updated_at = excluded.updated_at, search_key = excluded.search_key
      WHERE ${SERVER_GUARD}`);
    this.dropHeld = db.prepare('DELETE FROM held_changes WHERE entity_type = ? AND id = ?');
    this.getRowStmt = db.prepare(
      `SELECT entity_type, id, tenant_id, server_version, deleted, local_doc, doc, updated_at
       FROM entities WHERE entity_type = ? AND id = ?`,
    );
    this.writeLocalStmt = db.prepare(`
      INSERT INTO entities (entity_type, id, tenant_id, server_version, deleted, local_doc, doc, updated_at, search_key)
      VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)
      ON CONFLICT (entity_type, id) DO UPDATE SET
        tenant_id = excluded.tenant_id, deleted = excluded.deleted, local_doc = 1, doc = excluded.doc,
        updated_at = excluded.updated_at, search_key = excluded.search_key`);
    this.ackStmt = db.prepare(`
      UPDATE entities SET server_version = ?, local_doc = ?
      WHERE entity_type = ? AND id = ? AND server_version <= ?`);
    this.putServerCopyStmt = db.prepare(`
      INSERT INTO entities (entity_type, id, tenant_id, server_version, deleted, local_doc, doc, updated_at, search_key)
      VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)
      ON CONFLICT (entity_type, id) DO UPDATE SET
        tenant_id = excluded.tenant_id, server_version = excluded.server_version, deleted = excluded.deleted,
        local_doc = 0, doc = excluded.doc, updated_at = excluded.updated_at, search_key = excluded.search_key`);
    this.tombstoneStmt = db.prepare(
      'UPDATE entities SET deleted = 1, local_doc = 0, search_key = NULL, updated_at = ? WHERE entity_type = ? AND id = ?',
    );
    this.clearTypeStmt = db.prepare(`
      DELETE FROM entities WHERE entity_type = ? AND id NOT IN (
        SELECT entity_id FROM outbox_events
        WHERE entity_type = ? AND status IN ('PENDING', 'SENT', 'CONFLICT'))`);
  }

  getRow(type: EntityType, id: string): EntityRow | undefined {
    return this.getRowStmt.get(type, id);
  }

  /**
   * Writes a local edit: the doc changes, `server_version` keeps the version the edit is based on (a new
   * row starts at 0), and `local_doc` marks it as not yet the server's copy.
   */
  writeLocal(
    type: EntityType,
    id: string,
    tenantId: string,
    doc: Record<string, unknown>,
    deleted: boolean,
    now: string,
  ): void {
    this.writeLocalStmt.run(
      type,
      id,
      tenantId,
      0,
      deleted ? 1 : 0,
      JSON.stringify(doc),
      now,
      deleted ? null : searchKeyOf(type, doc),
    );
  }

  /** Puts the server's copy in place whatever the row holds (ACCEPT_SERVER); `null`: the server has none. */
  writeServerCopy(
    type: EntityType,
    id: string,
    tenantId: string,
    serverVersion: number,
    doc: Record<string, unknown> | null,
    now: string,
  ): void {
    if (doc === null) {
      this.tombstoneStmt.run(now, type, id);
      return;
    }
    const updatedAt = typeof doc.updatedAt === 'string' ? doc.updatedAt : now;
    this.putServerCopyStmt.run(
      type,
      id,
      tenantId,
      serverVersion,
      0,
      JSON.stringify(doc),
      updatedAt,
      searchKeyOf(type, doc),
    );
  }

  /**
   * Records an acknowledged upload: the row now stands at `serverVersion`. Its doc stays marked local so
   * that the server's echo of that same version (with server-set fields) may still replace it.
   */
  acknowledge(type: EntityType, id: string, serverVersion: number): void {
    this.ackStmt.run(serverVersion, serverVersion > 0 ? 1 : 0, type, id, serverVersion);
  }

  /** Applies the held server change if it is newer than the row, then forgets it. */
  releaseHeld(type: EntityType, id: string): boolean {
    const applied = this.releaseHeldStmt.run(type, id).changes > 0;
    this.dropHeld.run(type, id);
    return applied;
  }

  /** Removes every row of a type except those an unresolved outbox event still needs. */
  clearType(type: EntityType): number {
    return this.clearTypeStmt.run(type, type).changes;
  }
}
