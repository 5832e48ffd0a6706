import type Database from 'better-sqlite3';
import type { EntityChecksum } from '../../shared/checksum.ts';
import { ENTITY_TYPES, type EntityType } from '../../shared/entities.ts';
import type { Change, OutboxEvent, OutboxStatus, SyncUpResponse } from '../../shared/protocol.ts';
import { ChangeApplier, type ApplyResult, type ChangedIds } from './apply.ts';
import { ChecksumReader } from './checksums.ts';
import { CommitGroup, type CommitGroupOptions } from './commit-group.ts';
import {
  ConflictStore,
  type ConflictView,
  type ResolutionChoice,
  type ResolutionRequest,
} from './conflicts.ts';
import { openDatabase } from './database.ts';
import { refusalParamsSchema, type RefusalParams } from '../../shared/refusal-rules.ts';
import type { Entity } from './entity-store.ts';
import { EntityStore } from './entity-store.ts';
import { DeskStoreError } from './errors.ts';
import { StoreEmitter, type StoreEvents } from './events.ts';
import { LocalEdits, type EntityPatch, type LocalEdit, type NewEntity } from './local-edits.ts';
import { OutboxStore, toWireEvent } from './outbox-store.ts';
import type { PreparedChanges } from './prepared-changes.ts';
import { EntityQueries } from './queries.ts';
import { SyncStateStore, type SyncState } from './sync-state.ts';
import { UploadResponseApplier, type UploadOutcome } from './upload-response.ts';

export interface DeskStoreOptions {
  /** The tenant this desk file belongs to; opening it for another tenant fails with TENANT_MISMATCH. */
  tenantId: string;
  now?: () => Date;
  cacheSizeKiB?: number;
  walAutocheckpointPages?: number;
  /** Limits of `deferCommit` groups (see CommitGroup). */
  groupCommit?: CommitGroupOptions;
  /** Put SENT events back to PENDING on open (default true): no upload of this process is in flight yet. */
  resumeSent?: boolean;
}

export interface ApplyOptions {
  /** The response's `syncTimestamp`, stored as `lastSyncTimestamp` with the cursor. */
  syncTimestamp?: string | null;
  /**
   * Share the COMMIT with the next pages (catch-up): the page and its cursor stay atomic, the commit comes
   * within `groupCommit` limits or at the store's next other write, `flush()` or `close()`.
   */
  deferCommit?: boolean;
}

/**
 * The desk's SQLite store: entity rows, the outbox and the sync state, in one file.
 * Invariants: a local edit writes its row and its outbox event in one transaction; a page of server changes
 * is applied with its cursor in one transaction; a server change never overwrites an entity that has an
 * unresolved (PENDING, SENT, CONFLICT) outbox event, it is held until the entity settles.
 */
export class DeskStore {
  readonly tenantId: string;
  private readonly events = new StoreEmitter();
  private readonly clock: () => Date;
  private readonly entities: EntityStore;
  private readonly outbox: OutboxStore;
  private readonly state: SyncStateStore;
  private readonly edits: LocalEdits;
  private readonly applier: ChangeApplier;
  private readonly upload: UploadResponseApplier;
  private readonly conflictStore: ConflictStore;
  private readonly queries: EntityQueries;
  private readonly checksumReader: ChecksumReader;
  private readonly group: CommitGroup;

  private constructor(
    private readonly db: Database.Database,
    options: DeskStoreOptions,
  ) {
    this.tenantId = options.tenantId;
    this.clock = options.now ?? (() => new Date());
    this.entities = new EntityStore(db);
    this.outbox = new OutboxStore(db);
    this.state = db.transaction(() => new SyncStateStore(db, options.tenantId, this.now())).immediate();
    this.edits = new LocalEdits(this.entities, this.outbox, this.tenantId);
    this.applier = new ChangeApplier(this.entities, this.outbox, this.tenantId);
    this.upload = new UploadResponseApplier(db, this.entities, this.outbox);
    this.conflictStore = new ConflictStore(db, this.entities, this.outbox, this.upload);
    this.queries = new EntityQueries(db);
    this.checksumReader = new ChecksumReader(db);
    this.group = new CommitGroup(
      db,
      options.groupCommit ?? {},
      (cursor) => {
        if (cursor !== null) this.events.emit('committed', { cursor });
      },
      (err) => this.events.emit('error', err),
    );
    if (options.resumeSent ?? true) this.outbox.resumeSent();
  }

  static open(path: string, options: DeskStoreOptions): DeskStore {
    const db = openDatabase(path, {
      ...(options.cacheSizeKiB === undefined ? {} : { cacheSizeKiB: options.cacheSizeKiB }),
      ...(options.walAutocheckpointPages === undefined
        ? {}
        : { walAutocheckpointPages: options.walAutocheckpointPages }),
    });
    try {
      return new DeskStore(db, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  on<K extends keyof StoreEvents>(name: K, listener: (event: StoreEvents[K]) => void): () => void {
    return this.events.on(name, listener);
  }

  get clientId(): string {
    return this.state.read().clientId;
  }

  /** Commits a deferred group of pages, if any. */
  flush(): void {
    this.group.flush();
  }

  close(): void {
    this.group.flush();
    this.db.close();
  }

  // ── Local edits: row + outbox event in one transaction ────────────────────────────────────────────

  create<T extends EntityType>(type: T, input: NewEntity<T>): LocalEdit<T> {
    return this.localWrite(
      'edit',
      (now) => this.edits.create(type, input, now),
      type,
      (r) => r.entity.id,
    );
  }

  update<T extends EntityType>(type: T, id: string, patch: EntityPatch<T>): LocalEdit<T> {
    return this.localWrite(
      'edit',
      (now) => this.edits.update(type, id, patch, now),
      type,
      () => id,
    );
  }

  remove(type: EntityType, id: string): { outboxEventId: string } {
    return this.localWrite(
      'edit',
      (now) => this.edits.remove(type, id, now),
      type,
      () => id,
    );
  }

  // ── Reads for the screens ─────────────────────────────────────────────────────────────────────────

  get<T extends EntityType>(type: T, id: string): Entity<T> | undefined {
    return this.queries.get(type, id);
  }
  list<T extends EntityType>(type: T, options: { limit?: number; offset?: number } = {}): Entity<T>[] {
    return this.queries.list(type, options);
  }
  count(type: EntityType): number {
    return this.queries.count(type);
  }
  studentsOfClass(classId: string): Entity<'STUDENT'>[] {
    return this.queries.all('studentsOfClass', classId);
  }
  searchStudents(text: string, limit = 50): Entity<'STUDENT'>[] {
    return this.queries.searchPeople('STUDENT', text, limit);
  }
  searchTeachers(text: string, limit = 50): Entity<'TEACHER'>[] {
    return this.queries.searchPeople('TEACHER', text, limit);
  }
  gradesOfExam(examId: string): Entity<'GRADE'>[] {
    return this.queries.all('gradesOfExam', examId);
  }
  gradesOfStudent(studentId: string): Entity<'GRADE'>[] {
    return this.queries.all('gradesOfStudent', studentId);
  }
  paymentsOfStudent(studentId: string): Entity<'PAYMENT'>[] {
    return this.queries.all('paymentsOfStudent', studentId);
  }
  attendanceOfClass(classId: string, date: string): Entity<'ATTENDANCE'>[] {
    return this.queries.all('attendanceOfClass', classId, date);
  }
  absencesOfStudent(studentId: string): Entity<'ABSENCE'>[] {
    return this.queries.all('absencesOfStudent', studentId);
  }
  incidentsOfStudent(studentId: string): Entity<'DISCIPLINARY_INCIDENT'>[] {
    return this.queries.all('incidentsOfStudent', studentId);
  }
  examsOfClass(classId: string): Entity<'EXAM'>[] {
    return this.queries.all('examsOfClass', classId);
  }
  classesOfYear(academicYearId: string): Entity<'CLASS'>[] {
    return this.queries.all('classesOfYear', academicYearId);
  }

  // ── Outbox ────────────────────────────────────────────────────────────────────────────────────────

  /** Edits not yet confirmed by the server (PENDING or SENT). */
  pendingCount(): number {
    const counts = this.outbox.counts();
    return counts.PENDING + counts.SENT;
  }
  outboxCounts(): Record<OutboxStatus, number> {
    return this.outbox.counts();
  }
  /**
   * What the sync status shows of the outbox: edits not yet confirmed (`held` of them wait behind a
   * conflict for the user's decision), and the conflicts.
   */
  outboxFigures(): { pending: number; held: number; conflicts: number } {
    const counts = this.outbox.counts();
    return {
      pending: counts.PENDING + counts.SENT,
      held: counts.CONFLICT === 0 ? 0 : this.outbox.heldCount(),
      conflicts: counts.CONFLICT,
    };
  }
  /** The oldest PENDING events, in the order they were made, in the wire shape of `/api/sync/up`. */
  pendingBatch(limit = 1000): OutboxEvent[] {
    return this.outbox.pendingBatch(limit).map(toWireEvent);
  }
  /** Rejected events with the server's reason, for the user to see. */
  failedEvents(): OutboxEvent[] {
    return this.outbox.byStatus('FAILED').map(toWireEvent);
  }
  /** Rejected events the user has not dismissed, oldest first. */
  /** The edits of one record this desk has not settled with the server yet, oldest first (History offline). */
  pendingEditsOf(type: EntityType, id: string): OutboxEvent[] {
    return this.outbox.unresolvedOf(type, id).map(toWireEvent);
  }

  /** With the server's rule and parameters when it sent them (`detail`), for the screens' own words. */
  refusals(): (OutboxEvent & { detail: { rule: string; params: RefusalParams } | null })[] {
    return this.outbox
      .refused()
      .map((row) => ({ ...toWireEvent(row), detail: refusalDetailOf(row.error_detail) }));
  }
  /** The user has seen a refusal: it leaves `refusals()` (and is pruned with acknowledged events). */
  dismissRefusal(outboxEventId: string): void {
    const dismissed = this.localWrite('dismiss', (now) => this.outbox.dismiss(outboxEventId, now));
    if (!dismissed) {
      throw new DeskStoreError(
        'UNKNOWN_REFUSAL',
        `outbox event ${outboxEventId} is not a refusal to dismiss`,
      );
    }
  }
  markSent(ids: readonly string[]): number {
    return this.localWrite('sent', (now) => this.outbox.markSent(ids, now));
  }
  resumeSent(): number {
    return this.localWrite('resume', () => this.outbox.resumeSent());
  }
  /**
   * Applies an `/up` response (or a resolve response, which has the same shape). `sentIds`: the events of
   * the request; any the response leaves out goes back to PENDING.
   */
  applyUploadResponse(response: SyncUpResponse, sentIds: readonly string[] = []): UploadOutcome {
    return this.write('response', 'server', (now, changed) =>
      this.upload.apply(response, sentIds, now, changed),
    );
  }
  pruneAcknowledged(olderThanMs: number): number {
    const before = new Date(this.clock().getTime() - olderThanMs).toISOString();
    return this.localWrite('prune', () => this.outbox.prune(before));
  }

  // ── Conflicts ─────────────────────────────────────────────────────────────────────────────────────

  conflicts(): ConflictView[] {
    return this.conflictStore.list();
  }
  resolveLocally(outboxEventId: string, choice: ResolutionChoice): ResolutionRequest {
    return this.write('resolution', 'local', (now, changed) =>
      this.conflictStore.resolve(outboxEventId, choice, now, changed),
    );
  }
  /** Resolutions the server has not answered yet (after a restart, send them again). */
  unsentResolutions(): ResolutionRequest[] {
    return this.conflictStore.unsent();
  }

  // ── Download ──────────────────────────────────────────────────────────────────────────────────────

  syncState(): SyncState {
    return this.state.read();
  }

  /** Applies a page of changes (or the same prepared) and stores its cursor in one SQLite transaction. */
  applyChanges(
    changes: readonly Change[] | PreparedChanges,
    cursor: string,
    options: ApplyOptions = {},
  ): ApplyResult {
    return this.applyPage(changes, cursor, options, (now) =>
      this.state.saveCursor(cursor, options.syncTimestamp ?? null, now),
    );
  }

  /**
   * Starts a bootstrap: forgets the cursor and, unless `clear` is false, removes the rows of those types
   * (tombstones included) except rows an unresolved outbox event still needs.
   */
  beginSnapshot(types: readonly EntityType[] | null = null, options: { clear?: boolean } = {}): void {
    const cleared = this.write(null, 'server', (now) => {
      const swept =
        options.clear === false ? [] : (types ?? ENTITY_TYPES).filter((t) => this.entities.clearType(t) > 0);
      this.state.beginSnapshot(types, now);
      return swept;
    });
    for (const type of cleared) this.events.emit('changed', { type, ids: null, source: 'server' });
  }

  /** Applies one snapshot page and records where to resume, in one transaction. */
  applySnapshotPage(
    changes: readonly Change[] | PreparedChanges,
    progress: { cursor: string; pageToken?: string | null },
    options: Pick<ApplyOptions, 'deferCommit'> = {},
  ): ApplyResult {
    if (this.state.read().snapshot === null) {
      throw new DeskStoreError('INVALID_STATE', 'applySnapshotPage needs beginSnapshot first');
    }
    return this.applyPage(changes, null, options, (now) =>
      this.state.saveSnapshotPage(progress.cursor, progress.pageToken ?? null, now),
    );
  }

  /** Ends the bootstrap: from now on the desk catches up from `cursor`. */
  finishSnapshot(cursor: string, syncTimestamp: string | null = null): void {
    this.write(null, 'server', (now) => this.state.finishSnapshot(cursor, syncTimestamp, now));
    this.events.emit('committed', { cursor });
  }

  checksums(types?: readonly EntityType[]): Partial<Record<EntityType, EntityChecksum>> {
    return this.checksumReader.compute(types);
  }

  // ── Plumbing ──────────────────────────────────────────────────────────────────────────────────────

  private now(): string {
    return this.clock().toISOString();
  }

  private applyPage(
    changes: readonly Change[] | PreparedChanges,
    cursor: string | null,
    options: Pick<ApplyOptions, 'deferCommit'>,
    saveProgress: (now: string) => void,
  ): ApplyResult {
    const changed: ChangedIds | null = this.events.has('changed') ? new Map() : null;
    const page = (): ApplyResult => {
      const result = this.applier.apply(changes, changed);
      saveProgress(this.now());
      return result;
    };
    let result: ApplyResult;
    if (options.deferCommit === true) {
      result = this.group.run(changes.length, cursor, page);
    } else {
      this.group.flush();
      result = this.db.transaction(page).immediate();
      if (cursor !== null) this.events.emit('committed', { cursor });
    }
    if (changed !== null) this.emitChanged(changed, 'server');
    return result;
  }

  /** One immediate transaction after any deferred group is committed; events go out after the commit. */
  private write<T>(
    outboxReason: StoreEvents['outbox']['reason'] | null,
    source: 'local' | 'server',
    fn: (now: string, changed: ChangedIds) => T,
  ): T {
    this.group.flush();
    const changed: ChangedIds = new Map();
    const result = this.db.transaction(() => fn(this.now(), changed)).immediate();
    this.emitChanged(changed, source);
    if (outboxReason !== null) this.events.emit('outbox', { reason: outboxReason });
    return result;
  }

  private localWrite<T>(
    reason: StoreEvents['outbox']['reason'],
    fn: (now: string) => T,
    type?: EntityType,
    idOf?: (result: T) => string,
  ): T {
    return this.write(reason, 'local', (now, changed) => {
      const result = fn(now);
      if (type !== undefined && idOf !== undefined) changed.set(type, [idOf(result)]);
      return result;
    });
  }

  private emitChanged(changed: ChangedIds, source: 'local' | 'server'): void {
    for (const [type, ids] of changed) this.events.emit('changed', { type, ids, source });
  }
}

/** A stored `{ rule, params }`; anything unreadable counts as none (the screens then show the reason). */
function refusalDetailOf(json: string | null): { rule: string; params: RefusalParams } | null {
  if (json === null) return null;
  try {
    const value = JSON.parse(json) as { rule?: unknown; params?: unknown };
    const params = refusalParamsSchema.safeParse(value.params ?? {});
    return typeof value.rule === 'string' && params.success
      ? { rule: value.rule, params: params.data }
      : null;
  } catch {
    return null;
  }
}
