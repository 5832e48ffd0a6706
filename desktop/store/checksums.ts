import type Database from 'better-sqlite3';
import { ChecksumAccumulator, type EntityChecksum } from '../../shared/checksum.ts';
import { ENTITY_TYPES, type EntityType } from '../../shared/entities.ts';

/**
 * The desk's side of PROTOCOL `/api/sync/checksum`: every current (non-deleted) row of each type. Compare
 * with the server only the types without an unresolved outbox event: a local edit not yet acknowledged is,
 * by design, a difference (see desktop/sync/checksum-check.ts).
 */
export class ChecksumReader {
  private readonly rowsStmt: Database.Statement<[EntityType], [string, number]>;

  constructor(db: Database.Database) {
    this.rowsStmt = db
      .prepare<[EntityType], [string, number]>(
        'SELECT id, server_version FROM entities WHERE entity_type = ? AND deleted = 0',
      )
      .raw(true);
  }

  compute(types: readonly EntityType[] = ENTITY_TYPES): Partial<Record<EntityType, EntityChecksum>> {
    const result: Partial<Record<EntityType, EntityChecksum>> = {};
    for (const type of types) {
      const acc = new ChecksumAccumulator();
      for (const [id, version] of this.rowsStmt.iterate(type)) acc.add(id, version);
      result[type] = acc.result();
    }
    return result;
  }
}
