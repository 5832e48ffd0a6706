import type { Logger } from 'pino';
import type { EntityChecksum } from '../../shared/checksum.ts';
import { ENTITY_TYPES, type EntityType } from '../../shared/entities.ts';
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

/** Types whose figures differ between the server and the desk. */
export function differingTypes(
  server: ChecksumResponse['checksums'],
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
 * Only meaningful while the outbox holds no unresolved event (an unacknowledged edit is a difference).
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

  /** Whether the outbox allows a meaningful comparison now. */
  ready(): boolean {
    const counts = this.deps.store.outboxCounts();
    return counts.PENDING + counts.SENT + counts.CONFLICT === 0;
  }

  async run(signal: AbortSignal): Promise<ChecksumStatus | null> {
    const { store, status, options } = this.deps;
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
        differing = differingTypes(answer.checksums, store.checksums(types), types);
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
        differing = differingTypes(answer.checksums, store.checksums(differing), differing);
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

  private ask(types: EntityType[] | null, signal: AbortSignal): Promise<ChecksumResponse> {
    return this.deps.http.post(
      '/api/sync/checksum',
      { clientId: this.deps.store.clientId, ...(types === null ? {} : { entityTypes: types }) },
      parseChecksums,
      signal,
    );
  }
}
