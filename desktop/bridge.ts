import type { EntityType } from '../shared/entities.ts';
import type { HistoryEntry } from '../shared/protocol.ts';
import type { RefusalParams } from '../shared/refusal-rules.ts';
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

/**
 * The screens' filtered lists, each served by an indexed store query (desktop/store/queries.ts). The
 * `name` says which; the other fields are its arguments.
 */
export type ScreenQuery =
  | { name: 'classesOfYear'; academicYearId: string }
  | { name: 'studentsOfClass'; classId: string }
  | { name: 'examsOfClass'; classId: string }
  | { name: 'gradesOfExam'; examId: string }
  | { name: 'paymentsOfStudent'; studentId: string }
  | { name: 'attendanceOfClass'; classId: string; date: string }
  | { name: 'absencesOfStudent'; studentId: string }
  | { name: 'incidentsOfStudent'; studentId: string };

/** The arguments each screen query takes, in order (the bridge host checks them). */
export const SCREEN_QUERY_ARGS = {
  classesOfYear: ['academicYearId'],
  studentsOfClass: ['classId'],
  examsOfClass: ['classId'],
  gradesOfExam: ['examId'],
  paymentsOfStudent: ['studentId'],
  attendanceOfClass: ['classId', 'date'],
  absencesOfStudent: ['studentId'],
  incidentsOfStudent: ['studentId'],
} as const satisfies {
  [N in ScreenQuery['name']]: readonly Exclude<keyof Extract<ScreenQuery, { name: N }>, 'name'>[];
};

/** An edit the server refused for good (not a conflict): what was sent and the server's reason. */
export interface Refusal {
  outboxEventId: string;
  type: EntityType;
  entityId: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  payload: Record<string, unknown>;
  /** The server's English reason; `rule` and `params` say the same for the desk's own words, when sent. */
  reason: string;
  rule?: string;
  params?: RefusalParams;
  /** When the edit was made (ISO). */
  createdAt: string;
}

/** An edit of this desk the server has not settled yet, as a History panel shows it offline. */
export interface PendingEdit {
  outboxEventId: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  payload: Record<string, unknown>;
  /** When the edit was made (ISO). */
  createdAt: string;
  status: 'PENDING' | 'SENT' | 'CONFLICT' | 'ACKNOWLEDGED' | 'FAILED';
}

/**
 * A record's history: the server's entries (newest first) when it answered, else why not and what this
 * desk knows itself. Either way, the desk's own unsettled edits of the record.
 */
export type RecordHistory =
  | { online: true; entries: HistoryEntry[]; pending: PendingEdit[]; thisClientId: string }
  | { online: false; reason: string; pending: PendingEdit[] };

/** Something the screens should redraw for. */
export type BridgeEvent =
  { kind: 'status'; status: SyncStatus } | { kind: 'changed'; type: EntityType; source: 'local' | 'server' };

/**
 * What the renderer may ask of the desk, and nothing more. The Electron preload and the browser harness
 * implement this same interface; every value crossing it is plain JSON.
 */
export interface DeskBridge {
  list(query: ListQuery): Promise<EntityRecord[]>;
  /** One of the screens' filtered lists. */
  query(query: ScreenQuery): Promise<EntityRecord[]>;
  /**
   * Edits the server refused (e.g. a score above the exam's maximum) that the user has not dismissed,
   * oldest first; of one type, or of all (null).
   */
  refusals(type: EntityType | null): Promise<Refusal[]>;
  /** The user has read a refusal: it leaves `refusals`. */
  dismissRefusal(outboxEventId: string): Promise<void>;
  get(type: EntityType, id: string): Promise<EntityRecord | null>;
  create(type: EntityType, fields: Record<string, unknown>): Promise<SaveResult>;
  update(type: EntityType, id: string, patch: Record<string, unknown>): Promise<SaveResult>;
  remove(type: EntityType, id: string): Promise<void>;
  pendingCount(): Promise<number>;
  conflicts(): Promise<ConflictView[]>;
  resolve(outboxEventId: string, choice: ResolutionChoice): Promise<void>;
  /** The sync status now; null before the sync service has started. */
  status(): Promise<SyncStatus | null>;
  /** Who changed a record, when and from where (needs the server; offline: this desk's own edits). */
  history(type: EntityType, id: string): Promise<RecordHistory>;
  /** Listens to status changes and data changes; returns the unsubscribe function. */
  subscribe(listener: (event: BridgeEvent) => void): () => void;
}

/** The request methods of the bridge (all but `subscribe`), as sent over IPC or HTTP. */
export type BridgeMethod = Exclude<keyof DeskBridge, 'subscribe'>;

export const BRIDGE_METHODS: readonly BridgeMethod[] = [
  'list',
  'query',
  'refusals',
  'dismissRefusal',
  'get',
  'create',
  'update',
  'remove',
  'pendingCount',
  'conflicts',
  'resolve',
  'status',
  'history',
];

export function isBridgeMethod(value: unknown): value is BridgeMethod {
  return typeof value === 'string' && (BRIDGE_METHODS as readonly string[]).includes(value);
}

/** The IPC channels the Electron preload and main process share. */
export const IPC_CALL = 'desk:call';
export const IPC_EVENT = 'desk:event';
