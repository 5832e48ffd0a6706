import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import {
  entityPayloadSchemas,
  isEntityType,
  type EntityPayloads,
  type EntityType,
} from '../../shared/entities.ts';
import type { Operation } from '../../shared/protocol.ts';
import { detailOfIssue } from '../../shared/refusal-rules.ts';
import type { Entity, EntityStore } from './entity-store.ts';
import { DeskStoreError, ValidationError } from './errors.ts';
import type { OutboxStore } from './outbox-store.ts';

/** The declared fields of a payload type, without the index signature loose objects carry. */
type Declared<T> = { [K in keyof T as string extends K ? never : K]: T[K] };
type ServerManaged = 'id' | 'tenantId' | 'serverVersion' | 'updatedAt';

/** Input of `create`: the payload; `id` (a new UUID) and `tenantId` (the desk's) may be left out. */
export type NewEntity<T extends EntityType> = Omit<Declared<EntityPayloads[T]>, ServerManaged> & {
  id?: string;
  tenantId?: string;
  [field: string]: unknown;
};

/** Input of `update`: the fields to change. `null` clears an optional field. */
export type EntityPatch<T extends EntityType> = Partial<Omit<Declared<EntityPayloads[T]>, ServerManaged>> & {
  [field: string]: unknown;
};

/** A local edit as committed: the row as the screens now see it and the outbox event that carries it. */
export interface LocalEdit<T extends EntityType> {
  entity: Entity<T>;
  outboxEventId: string;
}

function validate(type: EntityType, doc: Record<string, unknown>): Record<string, unknown> {
  const schema: z.ZodType = entityPayloadSchemas[type];
  const result = schema.safeParse(doc);
  if (!result.success) {
    throw new ValidationError(
      type,
      result.error.issues.map((issue) => ({
        field: issue.path.length === 0 ? '(payload)' : issue.path.map(String).join('.'),
        message: issue.message,
        ...detailOfIssue(issue, doc),
      })),
    );
  }
  // The server assigns these; an edit never sends them.
  const {
    serverVersion: _version,
    updatedAt: _updatedAt,
    ...payload
  } = result.data as Record<string, unknown>;
  return payload;
}

function assertType(type: unknown): asserts type is EntityType {
  if (!isEntityType(type)) throw new DeskStoreError('VALIDATION', `unknown entity type ${String(type)}`);
}

/**
 * Local create / update / delete. Each writes the row and its outbox event in one transaction (the caller's
 * `transaction` wrapper): the row never changes without the event that will carry the change upstream.
 */
export class LocalEdits {
  constructor(
    private readonly entities: EntityStore,
    private readonly outbox: OutboxStore,
    private readonly tenantId: string,
  ) {}

  create<T extends EntityType>(type: T, input: NewEntity<T>, now: string): LocalEdit<T> {
    assertType(type);
    const { id: givenId, tenantId: givenTenant, ...fields } = input;
    this.assertTenant(givenTenant);
    const id = givenId ?? randomUUID();
    const doc = validate(type, { ...fields, id, tenantId: this.tenantId });
    const existing = this.entities.getRow(type, id);
    if (existing !== undefined && existing.deleted === 0) {
      throw new DeskStoreError('ALREADY_EXISTS', `${type} ${id} already exists`);
    }
    this.entities.writeLocal(type, id, this.tenantId, doc, false, now);
    const outboxEventId = this.record(type, id, 'CREATE', doc, 0, now);
    return { entity: this.entityOf<T>(doc, existing?.server_version ?? 0, now), outboxEventId };
  }

  update<T extends EntityType>(type: T, id: string, patch: EntityPatch<T>, now: string): LocalEdit<T> {
    assertType(type);
    const row = this.entities.getRow(type, id);
    if (row === undefined || row.deleted === 1)
      throw new DeskStoreError('NOT_FOUND', `${type} ${id} not found`);
    if (patch.id !== undefined && patch.id !== id) {
      throw new ValidationError(type, [{ field: 'id', message: 'an id cannot be changed' }]);
    }
    this.assertTenant(patch.tenantId);
    const current = JSON.parse(row.doc) as Record<string, unknown>;
    const doc = validate(type, { ...current, ...patch, id, tenantId: this.tenantId });
    this.entities.writeLocal(type, id, this.tenantId, doc, false, now);
    const outboxEventId = this.record(type, id, 'UPDATE', doc, row.server_version, now);
    return { entity: this.entityOf<T>(doc, row.server_version, now), outboxEventId };
  }

  /** Leaves a tombstone (the row, flagged deleted, at the version it had) and a DELETE event. */
  remove(type: EntityType, id: string, now: string): { outboxEventId: string } {
    assertType(type);
    const row = this.entities.getRow(type, id);
    if (row === undefined || row.deleted === 1)
      throw new DeskStoreError('NOT_FOUND', `${type} ${id} not found`);
    const current = JSON.parse(row.doc) as Record<string, unknown>;
    this.entities.writeLocal(type, id, this.tenantId, current, true, now);
    const payload = { id, tenantId: this.tenantId };
    return { outboxEventId: this.record(type, id, 'DELETE', payload, row.server_version, now) };
  }

  private record(
    type: EntityType,
    entityId: string,
    operation: Operation,
    payload: Record<string, unknown>,
    localVersion: number,
    now: string,
  ): string {
    const id = randomUUID();
    this.outbox.insert({
      id,
      tenantId: this.tenantId,
      entityType: type,
      entityId,
      operation,
      payload,
      localVersion,
      createdAt: now,
    });
    return id;
  }

  private assertTenant(tenantId: unknown): void {
    if (tenantId !== undefined && tenantId !== this.tenantId) {
      throw new DeskStoreError(
        'TENANT_MISMATCH',
        `tenant ${JSON.stringify(tenantId)} is not this desk's (${this.tenantId})`,
      );
    }
  }

  private entityOf<T extends EntityType>(
    doc: Record<string, unknown>,
    serverVersion: number,
    now: string,
  ): Entity<T> {
    return { ...doc, serverVersion, updatedAt: now } as Entity<T>;
  }
}
