import type { EntityType } from '../../shared/entities.ts';
import type { Change } from '../../shared/protocol.ts';
import type { EntityStore } from './entity-store.ts';
import { DeskStoreError } from './errors.ts';
import { entityKey, type OutboxStore } from './outbox-store.ts';
import { isPrepared, prepareChanges, type PreparedChanges } from './prepared-changes.ts';

/** What one page of changes did to the desk. */
export interface ApplyResult {
  /** Rows written (new, newer, or the server's copy of a version this desk wrote). */
  applied: number;
  /** Changes no newer than the row already here (a redelivery, or a snapshot/catch-up overlap). */
  skipped: number;
  /** Changes kept aside because the entity has an unresolved outbox event (see `held_changes`). */
  held: number;
}

/** Applied ids per type, collected only when someone listens for 'changed'. */
export type ChangedIds = Map<EntityType, string[]>;

export function noteChanged(changed: ChangedIds | null, type: EntityType, id: string): void {
  if (changed === null) return;
  const ids = changed.get(type);
  if (ids === undefined) changed.set(type, [id]);
  else ids.push(id);
}

/**
 * Applies server changes per PROTOCOL "Applying changes on the desk". Runs inside the caller's transaction.
 * The hot loop is one prepared upsert per change whose WHERE clause is the version guard, so a catch-up
 * costs about what a bare INSERT of the same rows costs; the set of protected entities is read once per page.
 * A page may come prepared (prepared-changes.ts, on a worker thread for a long download) or as changes.
 */
export class ChangeApplier {
  constructor(
    private readonly entities: EntityStore,
    private readonly outbox: OutboxStore,
    private readonly tenantId: string,
  ) {}

  apply(changes: readonly Change[] | PreparedChanges, changed: ChangedIds | null): ApplyResult {
    const page = isPrepared(changes) ? changes : prepareChanges(changes);
    const protectedKeys = this.outbox.unresolvedKeys();
    const checkProtected = protectedKeys.size > 0;
    const upsert = this.entities.upsertFromServer;
    const hold = this.entities.hold;
    const tenantId = this.tenantId;
    let applied = 0;
    let skipped = 0;
    let held = 0;
    for (let i = 0; i < page.length; i++) {
      const rowTenant = page.tenantId[i] ?? tenantId;
      if (rowTenant !== tenantId) {
        throw new DeskStoreError(
          'TENANT_MISMATCH',
          `change ${page.id[i]} belongs to tenant ${JSON.stringify(rowTenant)}, this desk to ${tenantId}`,
        );
      }
      const type = page.entityType[i]!;
      const id = page.entityId[i]!;
      const version = page.serverVersion[i]!;
      const deleted = page.deleted[i]!;
      const doc = page.doc[i]!;
      const updatedAt = page.updatedAt[i]!;
      const searchKey = page.searchKey[i]!;
      if (checkProtected && protectedKeys.has(entityKey(type, id))) {
        hold.run(type, id, tenantId, version, deleted, doc, updatedAt, searchKey);
        held += 1;
      } else if (upsert.run(type, id, tenantId, version, deleted, doc, updatedAt, searchKey).changes > 0) {
        applied += 1;
        noteChanged(changed, type, id);
      } else {
        skipped += 1;
      }
    }
    return { applied, skipped, held };
  }
}
