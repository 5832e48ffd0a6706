import type { EntityType } from '../../shared/entities.ts';
import type { Change } from '../../shared/protocol.ts';
import { searchKeyOf } from './entity-store.ts';

/**
 * A page of server changes in the form the store writes them: one array per column, every value the
 * upsert binds already computed (the payload as JSON text, the search key). Prepared apart from the store
 * so that a long download can prepare its next page on a worker thread while this one is written
 * (desktop/sync/page-decoder.ts); plain arrays of strings and numbers also cross to another thread far
 * cheaper than a page of objects.
 */
export interface PreparedChanges {
  length: number;
  /** The log ids, for error messages. */
  id: string[];
  entityType: EntityType[];
  entityId: string[];
  deleted: (0 | 1)[];
  serverVersion: number[];
  /** The payload's own tenantId (a value other than text as its JSON, which matches no tenant), or null when it names none. */
  tenantId: (string | null)[];
  doc: string[];
  /** The payload's updatedAt, else the change's commit time. */
  updatedAt: string[];
  searchKey: (string | null)[];
}

/** The changes of a page, prepared for ChangeApplier. */
export function prepareChanges(changes: readonly Change[]): PreparedChanges {
  const prepared: PreparedChanges = {
    length: changes.length,
    id: [],
    entityType: [],
    entityId: [],
    deleted: [],
    serverVersion: [],
    tenantId: [],
    doc: [],
    updatedAt: [],
    searchKey: [],
  };
  for (const change of changes) {
    const payload = change.payload;
    const deleted = change.operation === 'DELETE' ? 1 : 0;
    prepared.id.push(change.id);
    prepared.entityType.push(change.entityType);
    prepared.entityId.push(change.entityId);
    prepared.deleted.push(deleted);
    prepared.serverVersion.push(change.serverVersion);
    const tenantId = payload.tenantId;
    prepared.tenantId.push(
      tenantId === undefined || tenantId === null
        ? null
        : typeof tenantId === 'string'
          ? tenantId
          : JSON.stringify(tenantId),
    );
    prepared.doc.push(JSON.stringify(payload));
    prepared.updatedAt.push(typeof payload.updatedAt === 'string' ? payload.updatedAt : change.modifiedAt);
    prepared.searchKey.push(deleted === 1 ? null : searchKeyOf(change.entityType, payload));
  }
  return prepared;
}

/** Whether `changes` is a prepared page rather than a list of changes. */
export function isPrepared(changes: readonly Change[] | PreparedChanges): changes is PreparedChanges {
  return !Array.isArray(changes);
}
