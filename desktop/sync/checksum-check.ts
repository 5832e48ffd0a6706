import type { Logger } from 'pino';
import type { EntityChecksum } from '../../shared/checksum.ts';
import { ENTITY_TYPES, isEntityType, type EntityType } from '../../shared/entities.ts';
import { checksumResponseSchema, type ChecksumResponse } from '../../shared/protocol.ts';
import type { DeskStore } from '../store/index.ts';
import { withSchema, type SyncHttp } from './sync-http.ts';
import type { ChecksumStatus, SyncStatusBoard } from './sync-status.ts';

export interface ChecksumCheckOptions {
  /** The types this desk syncs; null: all. */
  entityTypes: EntityType[] | null;
  /**
   * Comparisons before a type that differs is downloaded again. Rows written on the server after its
   * answer may already be on the desk, so one difference on a busy tenant proves nothing; a lasting one does.
   */
  attempts: number;
}

const parseChecksums = withSchema(checksumResponseSchema);

/** Types whose figures differ between the server and the desk (a type missing on either side differs). */
export function differingTypes(
  server: Partial<Record<EntityType, EntityChecksum>>,
  desk: Partial<Record<EntityType, EntityChecksum>>,
  types: readonly EntityType[],
): EntityType[] {
  return types.filter((type) => {
    const a = server[type];
    const b = desk[type];
    return a === undefined || b === undefined || a.count !== b.count || a.sum !== b.sum;
  });
}

/**
 * Compares the desk with the server (PROTOCOL `/api/sync/checksum`): ask the server, catch up to at least its
 * cursor, compute the same figures over SQLite, and download again every type that keeps differing.
 * A type with an edit the server has not settled (pending, held behind a conflict, or in conflict) differs
 * by design and is left out; the others are compared all the same, so one conflict the user leaves open
 * does not hide a damaged type for good.
 */
export class ChecksumCheck {
  constructor(
    private readonly log: Logger,
    private readonly deps: {
      store: DeskStore;
      http: SyncHttp;
      status: SyncStatusBoard;
      options: ChecksumCheckOptions;
      catchUp: (signal: AbortSignal) => Promise<unknown>;
      resnapshot: (types: EntityType[], signal: AbortSignal) => Promise<unknown>;
      now?: () => Date;
    },
  ) {}

  /**
   * Whether a comparison means anything now: no upload is in flight. A SENT event may be applied on the
   * server while its row on the desk still holds the old version, and the store does not say of which type.
   */
  ready(): boolean {
    return this.deps.store.outboxCounts().SENT === 0;
  }

  async run(signal: AbortSignal): Promise<ChecksumStatus | null> {
    const { status, options } = this.deps;
    const asked = options.entityTypes;
    status.update({ checking: true });
    try {
      let differing: EntityType[] = [];
      let cursor = '';
      for (let attempt = 0; attempt < options.attempts; attempt++) {
        if (!this.ready() || signal.aborted) return null;
        const answer = await this.ask(asked, signal);
        cursor = answer.cursor;
        // The desk must hold everything up to the server's cursor: every later change is past it too.
        await this.deps.catchUp(signal);
        const types = asked ?? ENTITY_TYPES.filter((type) => answer.checksums[type] !== undefined);
        const comparison = this.compare(answer, types);
        if (comparison === null) return null;
        differing = comparison;
        if (differing.length === 0) break;
        this.log.info({ attempt, differing }, 'checksums differ; comparing again');
      }
      const resynced = [...differing];
      if (differing.length > 0) {
        this.log.warn({ types: differing }, 'checksums still differ: downloading these types again');
        await this.deps.resnapshot(differing, signal);
        await this.deps.catchUp(signal);
        const answer = await this.ask(differing, signal);
        cursor = answer.cursor;
        await this.deps.catchUp(signal);
        // A type edited on the desk meanwhile is left out like any other unsettled type.
        differing = this.compare(answer, differing) ?? [];
      }
      const result: ChecksumStatus = {
        at: (this.deps.now?.() ?? new Date()).toISOString(),
        cursor,
        matched: differing.length === 0,
        resynced,
      };
      status.update({ checksum: result });
      return result;
    } finally {
      status.update({ checking: false });
    }
  }

  /**
   * The types of `types` that differ, leaving out those with unsettled edits; null when an upload is in
   * flight or every type is unsettled. Unsettled types and figures are read in one synchronous step, so no
   * edit lands between them.
   */
  private compare(answer: ChecksumResponse, types: readonly EntityType[]): EntityType[] | null {
    if (!this.ready()) return null;
    const unsettled = this.unsettledTypes();
    const compared = types.filter((type) => !unsettled.has(type));
    if (compared.length === 0) return null;
    if (compared.length < types.length) {
      this.log.debug({ skipped: types.filter((type) => unsettled.has(type)) }, 'types with unsettled edits');
    }
    return differingTypes(answer.checksums, this.deps.store.checksums(compared), compared);
  }

  /** Types with an edit the server has not settled: PENDING (sendable or held) or CONFLICT. */
  private unsettledTypes(): Set<EntityType> {
    const { store } = this.deps;
    const types = new Set<EntityType>();
    // pendingBatch leaves out edits held behind a conflict; their record is in conflicts().
    for (const { entityType } of store.pendingBatch(Number.MAX_SAFE_INTEGER)) {
      if (isEntityType(entityType)) types.add(entityType);
    }
    for (const conflict of store.conflicts()) types.add(conflict.entityType);
    return types;
  }

  private ask(types: EntityType[] | null, signal: AbortSignal): Promise<ChecksumResponse> {
    return this.deps.http.post(
      '/api/sync/checksum',
      { clientId: this.deps.store.clientId, ...(types === null ? {} : { entityTypes: types }) },
      parseChecksums,
      signal,
    );
  }
}
