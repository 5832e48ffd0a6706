import type { EntityType } from '../shared/entities.ts';
import type { HistoryResponse } from '../shared/protocol.ts';
import { isEntityType } from '../shared/entities.ts';
import {
  SCREEN_QUERY_ARGS,
  type BridgeEvent,
  type BridgeMethod,
  type DeskBridge,
  type EntityRecord,
  type ListQuery,
  type PendingEdit,
  type RecordHistory,
  type Refusal,
  type SaveResult,
  type ScreenQuery,
} from './bridge.ts';
import { DeskStoreError, ValidationError, type DeskStore } from './store/index.ts';
import type { SyncStatus } from './sync/index.ts';

/** Where the host reads the sync status; the sync service may come and go (offline start, sign-in). */
export interface StatusSource {
  status(): SyncStatus | null;
  onStatus(listener: (status: SyncStatus) => void): () => void;
  /** A record's history from the server, through the sync service; absent or throwing: offline. */
  history?(type: EntityType, id: string): Promise<HistoryResponse>;
}

/** What a sync service offers the host (DeskSync has all of it; `history` is optional for tests). */
export interface SyncSource {
  status: SyncStatus;
  onStatus(l: (s: SyncStatus) => void): () => void;
  history?(type: EntityType, id: string): Promise<HistoryResponse>;
}

/** Why the server's history could not be read, in words for the panel. */
function offlineReason(err: unknown): string {
  const status = (err as { status?: unknown }).status;
  const kind = (err as { kind?: unknown }).kind;
  if (kind === 'network') return 'The server cannot be reached: you are offline.';
  if (status === 401 || status === 403) return 'The server refused this desk: its access must be renewed.';
  return 'The server could not answer just now.';
}

const DEFAULT_LIMIT = 500;

function toRecord(entity: object): EntityRecord {
  return entity as EntityRecord;
}

/** Validation refusals become field issues for the form; every other error is thrown to the caller. */
function save(write: () => { entity: object }): SaveResult {
  try {
    return { ok: true, entity: toRecord(write().entity) };
  } catch (err) {
    if (err instanceof ValidationError) return { ok: false, issues: err.issues };
    throw err;
  }
}

function entityType(value: unknown): EntityType {
  if (!isEntityType(value)) throw new DeskStoreError('VALIDATION', `unknown entity type ${String(value)}`);
  return value;
}

/** Checks an untrusted screen query: a known name and a string for each of its arguments. */
function screenQuery(value: unknown): ScreenQuery {
  const query = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const name = query.name;
  if (typeof name !== 'string' || !Object.hasOwn(SCREEN_QUERY_ARGS, name)) {
    throw new DeskStoreError('VALIDATION', `query: unknown query ${String(name)}`);
  }
  for (const arg of SCREEN_QUERY_ARGS[name as ScreenQuery['name']]) {
    if (typeof query[arg] !== 'string')
      throw new DeskStoreError('VALIDATION', `query ${name}: ${arg} must be a string`);
  }
  return query as unknown as ScreenQuery;
}

/** DeskBridge over a DeskStore in this process: what the Electron main process and the harness serve. */
export class BridgeHost implements DeskBridge {
  constructor(
    private readonly store: DeskStore,
    private readonly source: StatusSource,
  ) {}

  list(query: ListQuery): Promise<EntityRecord[]> {
    const type = entityType(query.type);
    const limit = typeof query.limit === 'number' ? Math.min(Math.max(query.limit, 1), 5_000) : DEFAULT_LIMIT;
    const search = typeof query.search === 'string' ? query.search.trim() : '';
    if (search !== '' && type === 'STUDENT') {
      return Promise.resolve(this.store.searchStudents(search, limit).map(toRecord));
    }
    if (search !== '' && type === 'TEACHER') {
      return Promise.resolve(this.store.searchTeachers(search, limit).map(toRecord));
    }
    return Promise.resolve(this.store.list(type, { limit }).map(toRecord));
  }

  query(query: ScreenQuery): Promise<EntityRecord[]> {
    const q = screenQuery(query);
    const store = this.store;
    const rows: object[] =
      q.name === 'attendanceOfClass'
        ? store.attendanceOfClass(q.classId, q.date)
        : q.name === 'classesOfYear'
          ? store.classesOfYear(q.academicYearId)
          : q.name === 'studentsOfClass'
            ? store.studentsOfClass(q.classId)
            : q.name === 'examsOfClass'
              ? store.examsOfClass(q.classId)
              : q.name === 'gradesOfExam'
                ? store.gradesOfExam(q.examId)
                : q.name === 'paymentsOfStudent'
                  ? store.paymentsOfStudent(q.studentId)
                  : q.name === 'absencesOfStudent'
                    ? store.absencesOfStudent(q.studentId)
                    : store.incidentsOfStudent(q.studentId);
    return Promise.resolve(rows.map(toRecord));
  }

  refusals(type: EntityType | null): Promise<Refusal[]> {
    const wanted = type === null ? null : entityType(type);
    return Promise.resolve(
      this.store
        .refusals()
        .filter((event) => wanted === null || event.entityType === wanted)
        .map((event) => ({
          outboxEventId: event.id,
          type: entityType(event.entityType),
          entityId: event.entityId,
          operation: event.operation,
          payload: event.payload,
          reason: event.errorMessage ?? 'refused by the server',
          ...(event.detail === null ? {} : { rule: event.detail.rule, params: event.detail.params }),
          createdAt: event.createdAt,
        })),
    );
  }

  dismissRefusal(outboxEventId: string): Promise<void> {
    return Promise.resolve().then(() => this.store.dismissRefusal(outboxEventId));
  }

  get(type: EntityType, id: string): Promise<EntityRecord | null> {
    const entity = this.store.get(entityType(type), id);
    return Promise.resolve(entity === undefined ? null : toRecord(entity));
  }

  create(type: EntityType, fields: Record<string, unknown>): Promise<SaveResult> {
    return Promise.resolve(save(() => this.store.create(entityType(type), fields)));
  }

  update(type: EntityType, id: string, patch: Record<string, unknown>): Promise<SaveResult> {
    return Promise.resolve(save(() => this.store.update(entityType(type), id, patch)));
  }

  remove(type: EntityType, id: string): Promise<void> {
    this.store.remove(entityType(type), id);
    return Promise.resolve();
  }

  pendingCount(): Promise<number> {
    return Promise.resolve(this.store.pendingCount());
  }

  conflicts(): ReturnType<DeskBridge['conflicts']> {
    return Promise.resolve(this.store.conflicts());
  }

  resolve(outboxEventId: string, choice: 'KEEP_LOCAL' | 'ACCEPT_SERVER'): Promise<void> {
    this.store.resolveLocally(outboxEventId, choice);
    return Promise.resolve();
  }

  status(): Promise<SyncStatus | null> {
    return Promise.resolve(this.source.status());
  }

  async history(type: EntityType, id: string): Promise<RecordHistory> {
    const wanted = entityType(type);
    const pending: PendingEdit[] = this.store.pendingEditsOf(wanted, id).map((event) => ({
      outboxEventId: event.id,
      operation: event.operation,
      payload: event.payload,
      createdAt: event.createdAt,
      status: event.status ?? 'PENDING',
    }));
    if (this.source.history === undefined) {
      return { online: false, reason: 'This desk is not connected to a server.', pending };
    }
    try {
      const answer = await this.source.history(wanted, id);
      return { online: true, entries: answer.entries, pending, thisClientId: this.store.clientId };
    } catch (err) {
      // Made on this desk and not uploaded yet: the server has never heard of it.
      if ((err as { code?: unknown }).code === 'UNKNOWN_ENTITY')
        return { online: true, entries: [], pending, thisClientId: this.store.clientId };
      return { online: false, reason: offlineReason(err), pending };
    }
  }

  subscribe(listener: (event: BridgeEvent) => void): () => void {
    const offs = [
      this.source.onStatus((status) => listener({ kind: 'status', status })),
      this.store.on('changed', ({ type, source }) => listener({ kind: 'changed', type, source })),
    ];
    return () => {
      for (const off of offs) off();
    };
  }

  /**
   * Runs one request as it arrived over IPC or HTTP. `args` are untrusted: types are checked here, payloads by
   * the store's zod schemas.
   */
  call(method: BridgeMethod, args: readonly unknown[]): Promise<unknown> {
    const [a, b, c] = args;
    const text = (value: unknown): string => {
      if (typeof value !== 'string') throw new DeskStoreError('VALIDATION', `${method}: expected a string`);
      return value;
    };
    const object = (value: unknown): Record<string, unknown> => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new DeskStoreError('VALIDATION', `${method}: expected an object`);
      }
      return value as Record<string, unknown>;
    };
    switch (method) {
      case 'list':
        return this.list(object(a) as unknown as ListQuery);
      case 'query':
        return this.query(object(a) as unknown as ScreenQuery);
      case 'refusals':
        return this.refusals(a === null || a === undefined ? null : entityType(a));
      case 'dismissRefusal':
        return this.dismissRefusal(text(a));
      case 'get':
        return this.get(entityType(a), text(b));
      case 'create':
        return this.create(entityType(a), object(b));
      case 'update':
        return this.update(entityType(a), text(b), object(c));
      case 'remove':
        return this.remove(entityType(a), text(b));
      case 'pendingCount':
        return this.pendingCount();
      case 'conflicts':
        return this.conflicts();
      case 'resolve': {
        const choice = text(b);
        if (choice !== 'KEEP_LOCAL' && choice !== 'ACCEPT_SERVER') {
          throw new DeskStoreError('VALIDATION', `resolve: unknown choice ${choice}`);
        }
        return this.resolve(text(a), choice);
      }
      case 'status':
        return this.status();
      case 'history':
        return this.history(entityType(a), text(b));
    }
  }
}

/** A status source whose sync service can be swapped (started, stopped, started again). */
export class SwitchableStatus implements StatusSource {
  private current: SyncSource | null = null;
  private detach: (() => void) | null = null;
  private readonly listeners = new Set<(status: SyncStatus) => void>();

  /** Follows `sync` from now on (null: no sync service). */
  use(sync: SyncSource | null): void {
    this.detach?.();
    this.detach = null;
    this.current = sync;
    if (sync === null) return;
    this.detach = sync.onStatus((status) => this.emit(status));
    this.emit(sync.status);
  }

  status(): SyncStatus | null {
    return this.current?.status ?? null;
  }

  /** Through the sync service in use; none (or one without `history`): offline. */
  history(type: EntityType, id: string): Promise<HistoryResponse> {
    const sync = this.current;
    if (sync?.history === undefined) return Promise.reject(new Error('no sync service'));
    return sync.history(type, id);
  }

  onStatus(listener: (status: SyncStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(status: SyncStatus): void {
    for (const listener of [...this.listeners]) listener(status);
  }
}
