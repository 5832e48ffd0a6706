import type { Logger } from 'pino';
import type { EntityType } from '../../shared/entities.ts';
import { checksumResponseSchema } from '../../shared/protocol.ts';
import type { DeskStore } from '../store/index.ts';
import { sleep } from '../../shared/timing.ts';
import {
  decodedHere,
  PageDecoder,
  type DecodedPages,
  type PageHead,
  type PageKind,
  type WorkerScript,
} from './page-decoder.ts';
import { SyncHttpError, withSchema, type SyncHttp } from './sync-http.ts';
import type { DownloadProgress, SyncStatusBoard } from './sync-status.ts';
import { must } from '../../shared/asserts.ts';

export interface CatchUpOptions {
  /** `/down` page size (the server caps it at 10 000). */
  downLimit: number;
  /** `/snapshot` page size. */
  snapshotLimit: number;
  /** The types this desk syncs; null: all the server serves. */
  entityTypes: EntityType[] | null;
}

export interface DownloadResult {
  applied: number;
  pages: number;
}

/**
 * The HTTP half of the download: snapshot pages and `/down` pages, each applied with its cursor in one
 * SQLite transaction. Pages of one run share their commits (deferCommit) and are flushed before returning,
 * so a crash loses at most a suffix of whole pages, fetched again from the last durable cursor.
 */
export class CatchUp {
  constructor(
    private readonly log: Logger,
    private readonly deps: {
      store: DeskStore;
      http: SyncHttp;
      status: SyncStatusBoard;
      options: CatchUpOptions;
      /** The page worker's script (default: page-decoder.ts's); null: decode every page on this thread. */
      pageWorker?: WorkerScript | null;
    },
  ) {}

  /**
   * How a download asks for its pages and decodes them: the first on this thread, as it waits for nothing
   * else; every later one (fetched while the one before is applied) on the page worker, started then.
   * Close it when the download ends.
   */
  private pageFetching(signal: AbortSignal): {
    fetch: <K extends PageKind>(
      kind: K,
      path: string,
      body: object,
      first: boolean,
    ) => Fetched<DecodedPages[K]>;
    close: () => Promise<void>;
  } {
    const decoder = new PageDecoder(this.log, this.deps.pageWorker);
    return {
      fetch: (kind, path, body, first) => {
        let early!: (head: PageHead | null) => void;
        const found = new Promise<PageHead | null>((resolve) => (early = resolve));
        const page = this.deps.http.postDecoded(
          path,
          body,
          (text) => {
            const decoding = first ? decodedHere(kind, text) : decoder.decode(kind, text);
            void decoding.head.then(early);
            return decoding.page;
          },
          signal,
        );
        const settled = (): void => early(null);
        page.then(settled, settled);
        // The head read early, else the checked page's own (or its failure).
        return { page, head: found.then((head) => head ?? (page as Promise<PageHead>)) };
      },
      close: () => decoder.close(),
    };
  }

  /** Whether a bootstrap is due: no cursor yet, or a snapshot was cut short. */
  needsSnapshot(): boolean {
    const state = this.deps.store.syncState();
    return state.cursor === null || state.snapshot !== null;
  }

  /**
   * Downloads the current rows of `types` (null: every type) and makes the desk continue from there. A whole
   * snapshot continues from its own cursor; a partial one (a type that failed its checksum) continues from
   * the desk's previous cursor, so the other types miss nothing, and the changes of the resnapshotted types
   * between the two cursors are applied again harmlessly (the version guard skips the older ones).
   */
  async snapshot(types: EntityType[] | null, signal: AbortSignal): Promise<DownloadResult> {
    const { store } = this.deps;
    const state = store.syncState();
    let resume = state.snapshot;
    let continueFrom: string | null = null;
    // A partial snapshot cut short by a crash has lost the cursor to return to: start a whole one.
    if (resume !== null && resume.entityTypes !== null && types === null) resume = null;
    if (resume === null || types !== null) {
      continueFrom = types === null ? null : state.cursor;
      store.beginSnapshot(types === null ? this.deps.options.entityTypes : types);
      resume = store.syncState().snapshot;
    }
    const askTypes = resume?.entityTypes ?? this.deps.options.entityTypes;
    try {
      return await this.snapshotPages(askTypes, resume?.pageToken ?? null, continueFrom, signal);
    } catch (err) {
      if (
        err instanceof SyncHttpError &&
        (err.code === 'INVALID_PAGE_TOKEN' || err.code === 'RESYNC_REQUIRED')
      ) {
        // The token expired or the log moved under the snapshot: start it again from the first page.
        this.log.info({ code: err.code }, 'snapshot restarted from its first page');
        store.beginSnapshot(askTypes);
        return this.snapshotPages(askTypes, null, continueFrom, signal);
      }
      throw err;
    } finally {
      this.deps.status.update({ progress: null });
    }
  }

  private async snapshotPages(
    types: EntityType[] | null,
    firstToken: string | null,
    continueFrom: string | null,
    signal: AbortSignal,
  ): Promise<DownloadResult> {
    const { store, options } = this.deps;
    const progress: DownloadProgress = { kind: 'snapshot', done: 0, total: null, pages: 0 };
    const pages = this.pageFetching(signal);
    const fetchPage = (pageToken: string | null, first: boolean): Fetched<DecodedPages['snapshot']> =>
      pages.fetch(
        'snapshot',
        '/api/sync/snapshot',
        {
          clientId: store.clientId,
          limit: options.snapshotLimit,
          ...(types === null ? {} : { entityTypes: types }),
          ...(pageToken === null ? {} : { pageToken }),
        },
        first,
      );
    // A snapshot from its first page shows "N of M": M is the rows the server counts for the checksum (the
    // protocol has no count of its own), asked beside the first page and awaited a little at most.
    let total: number | null = null;
    const counted =
      firstToken === null
        ? this.countRows(types, signal).then((count) => {
            total = count;
          })
        : Promise.resolve();
    let cursor: string | null = null;
    const queue = new PageQueue(
      () => fetchPage(firstToken, true),
      ({ hasMore, pageToken }) =>
        hasMore && pageToken !== undefined ? () => fetchPage(pageToken, false) : null,
    );
    try {
      for (let page = await queue.take(); page !== null; page = await queue.take()) {
        if (progress.pages === 0) await Promise.race([counted, sleep(COUNT_WAIT_MS, signal)]);
        if (page.hasMore && page.pageToken === undefined) {
          throw new SyncHttpError('protocol', 200, 'BAD_RESPONSE', 'snapshot page has more but no pageToken');
        }
        await requestSent();
        store.applySnapshotPage(
          page.changes,
          { cursor: page.cursor, pageToken: page.pageToken ?? null },
          { deferCommit: true },
        );
        cursor = page.cursor;
        progress.done += page.changes.length;
        progress.pages += 1;
        if (total !== null) progress.total = Math.max(total, progress.done);
        this.deps.status.update({ progress: { ...progress } });
      }
    } finally {
      store.flush();
      queue.abandon();
      await pages.close();
    }
    const resumeAt = must(continueFrom ?? cursor, 'snapshot ended without a cursor');
    store.finishSnapshot(resumeAt);
    this.log.info({ applied: progress.done, pages: progress.pages, types }, 'snapshot applied');
    return { applied: progress.done, pages: progress.pages };
  }

  /** The rows of `types` the server holds for this desk's tenant, or null when it does not say. */
  private async countRows(types: EntityType[] | null, signal: AbortSignal): Promise<number | null> {
    const { store, http } = this.deps;
    try {
      const answer = await http.post(
        '/api/sync/checksum',
        { clientId: store.clientId, ...(types === null ? {} : { entityTypes: types }) },
        parseChecksums,
        signal,
      );
      return Object.values(answer.checksums).reduce((sum, figures) => sum + (figures?.count ?? 0), 0);
    } catch (err) {
      this.log.debug({ err }, 'no row count for the snapshot progress');
      return null;
    }
  }

  /** Applies `/down` pages from the stored cursor until the server has no more. Throws 410 as is. */
  async catchUp(signal: AbortSignal): Promise<DownloadResult> {
    const { store, options } = this.deps;
    const start = must(store.syncState().cursor, 'catch-up needs a cursor: snapshot first');
    const progress: DownloadProgress = { kind: 'catch-up', done: 0, total: null, pages: 0 };
    // The first page asks how many changes follow it (PROTOCOL countRemaining): the bar shows "N of M".
    const pages = this.pageFetching(signal);
    const fetchPage = (cursor: string, first: boolean): Fetched<DecodedPages['down']> =>
      pages.fetch(
        'down',
        '/api/sync/down',
        {
          clientId: store.clientId,
          cursor,
          limit: options.downLimit,
          ...(options.entityTypes === null ? {} : { entityTypes: options.entityTypes }),
          ...(first ? { countRemaining: true } : {}),
        },
        first,
      );
    let cursor = start;
    const queue = new PageQueue(
      () => fetchPage(start, true),
      (head) => (head.hasMore ? () => fetchPage(head.cursor, false) : null),
    );
    try {
      for (let page = await queue.take(); page !== null; page = await queue.take()) {
        await requestSent();
        if (progress.pages === 0 && page.remaining !== undefined) {
          progress.total = page.changes.length + page.remaining;
        }
        if (page.changes.length > 0 || page.cursor !== cursor) {
          store.applyChanges(page.changes, page.cursor, {
            syncTimestamp: page.syncTimestamp,
            deferCommit: true,
          });
        }
        cursor = page.cursor;
        progress.done += page.changes.length;
        progress.pages += 1;
        // Only a long catch-up is worth a progress bar.
        if (page.hasMore || progress.pages > 1) this.deps.status.update({ progress: { ...progress } });
      }
    } finally {
      store.flush();
      queue.abandon();
      await pages.close();
      if (progress.pages > 1) this.deps.status.update({ progress: null });
    }
    if (progress.done > 0) this.log.debug({ applied: progress.done, pages: progress.pages }, 'caught up');
    return { applied: progress.done, pages: progress.pages };
  }
}

const parseChecksums = withSchema(checksumResponseSchema);
/** How long the first snapshot page waits for the row count (the server answers it once capture caught up). */
const COUNT_WAIT_MS = 2_000;

/** Pages a download fetches ahead of the one it applies: fetched, being fetched, or waiting to be applied. */
const PAGES_AHEAD = 2;

/** A page asked for: where the page after it starts as soon as that is known, and the page itself. */
interface Fetched<P> {
  head: Promise<PageHead>;
  page: Promise<P>;
}

/**
 * The pages of one download, in order, each asked for as soon as the head of the one before it is in (its
 * cursor or token says where the next starts), whatever the caller is doing, up to PAGES_AHEAD pages
 * ahead of the page taken last. So the server reads the next page while this desk checks and writes one.
 * One request at a time, as keyset pages require.
 */
class PageQueue<P> {
  readonly #pages: Promise<P>[] = [];
  #next: (() => Fetched<P>) | null;
  #inFlight = false;
  #abandoned = false;

  /** `nextOf`: how to ask for the page after the one with `head`; null after the last. */
  constructor(
    first: () => Fetched<P>,
    private readonly nextOf: (head: PageHead) => (() => Fetched<P>) | null,
  ) {
    this.#next = first;
    this.#pump();
  }

  /** The next page in order (rejects as its fetch did); null after the last. */
  take(): Promise<P | null> {
    const page = this.#pages.shift();
    this.#pump();
    return page ?? Promise.resolve(null);
  }

  /** Asks for nothing more (the download ended or failed); a request in flight is left to settle. */
  abandon(): void {
    this.#abandoned = true;
  }

  #pump(): void {
    if (this.#abandoned || this.#inFlight || this.#next === null || this.#pages.length >= PAGES_AHEAD) return;
    const fetched = this.#next();
    this.#next = null;
    this.#inFlight = true;
    // A page fetched ahead and then abandoned must not become an unhandled rejection.
    fetched.page.catch(() => undefined);
    this.#pages.push(fetched.page);
    fetched.head.then(
      (head) => {
        this.#inFlight = false;
        this.#next = this.nextOf(head);
        this.#pump();
      },
      () => {
        this.#inFlight = false;
      },
    );
  }
}

/**
 * Lets the event loop send a request just issued before a page is applied: applying blocks the loop for a
 * tenth of a second, and a request still queued meanwhile would reach the server only after it, so the
 * server would read the next page while the desk waits instead of while it applies (measured: a third of
 * a 1M-change catch-up).
 */
function requestSent(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
