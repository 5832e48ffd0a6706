import type { EntityType } from '../shared/entities.ts';
import type { ConflictView, FieldIssue, ResolutionChoice } from './store/index.ts';
import type { SyncStatus } from './sync/index.ts';

/** An entity as the screens get it over the bridge: plain JSON. */
export type EntityRecord = Record<string, unknown> & { id: string; serverVersion: number };

/** A save either committed (row + outbox event) or was refused with every bad field named. */
export type SaveResult = { ok: true; entity: EntityRecord } | { ok: false; issues: FieldIssue[] };

export interface ListQuery {
  type: EntityType;
  /** Students and teachers: folded name search (accents and case ignored). */
  search?: string;
  limit?: number;
}

/** Something the screens should redraw for. */
export type BridgeEvent =
  { kind: 'status'; status: SyncStatus } | { kind: 'changed'; type: EntityType; source: 'local' | 'server' };

/**
 * What the renderer may ask of the desk, and nothing more. The Electron preload and the browser harness
 * implement this same interface; every value crossing it is plain JSON.
 */
export interface DeskBridge {
  list(query: ListQuery): Promise<EntityRecord[]>;
  get(type: EntityType, id: string): Promise<EntityRecord | null>;
  create(type: EntityType, fields: Record<string, unknown>): Promise<SaveResult>;
  update(type: EntityType, id: string, patch: Record<string, unknown>): Promise<SaveResult>;
  remove(type: EntityType, id: string): Promise<void>;
  pendingCount(): Promise<number>;
  conflicts(): Promise<ConflictView[]>;
  resolve(outboxEventId: string, choice: ResolutionChoice): Promise<void>;
  /** The sync status now; null before the sync service has started. */
  status(): Promise<SyncStatus | null>;
  /** Listens to status changes and data changes; returns the unsubscribe function. */
  subscribe(listener: (event: BridgeEvent) => void): () => void;
}

/** The request methods of the bridge (all but `subscribe`), as sent over IPC or HTTP. */
export type BridgeMethod = Exclude<keyof DeskBridge, 'subscribe'>;

export const BRIDGE_METHODS: readonly BridgeMethod[] = [
  'list',
  'get',
  'create',
  'update',
  'remove',
  'pendingCount',
  'conflicts',
  'resolve',
  'status',
];

export function isBridgeMethod(value: unknown): value is BridgeMethod {
  return typeof value === 'string' && (BRIDGE_METHODS as readonly string[]).includes(value);
}

/** The IPC channels the Electron preload and main process share. */
export const IPC_CALL = 'desk:call';
export const IPC_EVENT = 'desk:event';
