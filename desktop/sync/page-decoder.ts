import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import {
  snapshotResponseSchema,
  syncDownResponseSchema,
  type SnapshotResponse,
  type SyncDownResponse,
} from '../../shared/protocol.ts';
import { prepareChanges, type PreparedChanges } from '../store/prepared-changes.ts';

/** A `/down` or `/snapshot` page as the store applies it: checked against PROTOCOL, its changes prepared. */
export interface DecodedPages {
  down: Omit<SyncDownResponse, 'changes'> & { changes: PreparedChanges };
  snapshot: Omit<SnapshotResponse, 'changes'> & { changes: PreparedChanges };
}
export type PageKind = keyof DecodedPages;

const SCHEMAS = { down: syncDownResponseSchema, snapshot: snapshotResponseSchema } as const;

/**
 * Parses a page's JSON text, checks it against its schema and prepares its changes; throws on text that is
 * not JSON or not such a page. The same on either thread.
 */
export function decodePage<K extends PageKind>(kind: K, text: string): DecodedPages[K] {
  return decodeParsed(kind, JSON.parse(text));
}

/** decodePage for JSON already parsed. */
export function decodeParsed<K extends PageKind>(kind: K, json: unknown): DecodedPages[K] {
  const page = SCHEMAS[kind].parse(json);
  return { ...page, changes: prepareChanges(page.changes) } as DecodedPages[K];
}

/** Where the page after a page starts: what a download needs to ask for it. */
export interface PageHead {
  cursor: string;
  hasMore: boolean;
  pageToken?: string;
}

/**
 * A page's head read from its parsed JSON before the page is checked, so that the next page can be asked
 * for while this one is checked and prepared; null when the fields are not of their types (the checked
 * page then says where the next starts, or why there is none). Nothing is applied from it: a page is
 * applied only checked, and a page that fails its check ends the download, the next page unused.
 */
export function headOf(json: unknown): PageHead | null {
  if (typeof json !== 'object' || json === null) return null;
  const { cursor, hasMore, pageToken } = json as Record<string, unknown>;
  if (typeof cursor !== 'string' || typeof hasMore !== 'boolean') return null;
  if (pageToken !== undefined && typeof pageToken !== 'string') return null;
  return { cursor, hasMore, ...(pageToken === undefined ? {} : { pageToken }) };
}

/** A page being decoded: its head as soon as it is parsed (null: wait for the page), then the page. */
export interface Decoding<K extends PageKind> {
  head: Promise<PageHead | null>;
  page: Promise<DecodedPages[K]>;
}

/** What page-worker.ts answers for request `id`: the page's head once parsed, then the page or why not. */
export type PageAnswer =
  | { id: number; head: PageHead | null }
  | { id: number; ok: true; page: DecodedPages[PageKind] }
  | { id: number; ok: false; message: string };

/** What page-worker.ts is asked. */
export interface PageRequest {
  id: number;
  kind: PageKind;
  text: string;
}

/**
 * Decodes the pages of one long download on a worker thread, so that the next page is parsed, checked
 * and prepared while this one is written to SQLite: on the download's own thread that work is about a
 * fifth of a catch-up (JSON.parse, zod, the payloads' JSON text and search keys). Started on the first
 * page it is asked for and ended by close() (CatchUp decodes a download's first page itself, so a download
 * of one page never starts it). If the worker cannot start or dies, pages are decoded on the caller's
 * thread from then on, so a download never fails for it.
 */
export class PageDecoder {
  #worker: Worker | null = null;
  #broken = false;
  #nextId = 1;
  #decodedOnWorker = 0;
  readonly #pending = new Map<number, Pending>();

  constructor(
    private readonly log: Logger,
    private readonly script: WorkerScript | null = pageWorkerScript(),
  ) {}

  /** Pages the worker decoded. */
  get decodedOnWorker(): number {
    return this.#decodedOnWorker;
  }

  decode<K extends PageKind>(kind: K, text: string): Decoding<K> {
    const worker = this.#broken || this.script === null ? null : (this.#worker ?? this.#start());
    if (worker === null) return decodedHere(kind, text);
    const id = this.#nextId++;
    let headFound!: (head: PageHead | null) => void;
    const head = new Promise<PageHead | null>((resolve) => (headFound = resolve));
    const page = new Promise<DecodedPages[K]>((resolve, reject) => {
      this.#pending.set(id, {
        kind,
        text,
        head: headFound,
        resolve: resolve as (page: DecodedPages[PageKind]) => void,
        reject,
      });
      worker.postMessage({ id, kind, text } satisfies PageRequest);
    });
    // A page that fails has no head; whoever waits for one then waits for the page and meets its failure.
    page.catch(() => headFound(null));
    return { head, page };
  }

  /** Ends the worker; a page asked for and not yet answered is refused (the download is over). */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = null;
    if (worker === null) return;
    worker.removeAllListeners();
    const closed = new Error('page decoder closed');
    for (const waiting of this.#pending.values()) waiting.reject(closed);
    this.#pending.clear();
    await worker.terminate();
  }

  #start(): Worker | null {
    const script = this.script!;
    let worker: Worker;
    try {
      worker = new Worker(script.file, { workerData: { entry: script.entry } });
    } catch (err) {
      this.log.warn({ err }, 'page worker did not start: pages are decoded on the sync thread');
      this.#broken = true;
      return null;
    }
    worker.unref();
    worker.on('message', (answer: PageAnswer) => {
      const waiting = this.#pending.get(answer.id);
      if (waiting === undefined) return;
      if ('head' in answer) {
        waiting.head(answer.head);
        return;
      }
      this.#pending.delete(answer.id);
      waiting.head(null);
      if (answer.ok) {
        this.#decodedOnWorker += 1;
        waiting.resolve(answer.page);
      } else waiting.reject(new Error(answer.message));
    });
    const broken = (err: Error): void => {
      if (this.#worker !== worker) return;
      this.log.warn({ err }, 'page worker failed: pages are decoded on the sync thread');
      this.#broken = true;
      this.#worker = null;
      for (const { kind, text, head, resolve, reject } of this.#pending.values()) {
        head(null);
        decodedHere(kind, text).page.then(resolve, reject);
      }
      this.#pending.clear();
    };
    worker.on('error', broken);
    worker.on('exit', (code) => broken(new Error(`page worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }
}

interface Pending {
  kind: PageKind;
  text: string;
  /** Settles the page's head (only its first call counts). */
  head: (head: PageHead | null) => void;
  resolve: (page: DecodedPages[PageKind]) => void;
  reject: (err: Error) => void;
}

/** A page decoded on this thread: its head comes with it. */
export function decodedHere<K extends PageKind>(kind: K, text: string): Decoding<K> {
  const page = Promise.resolve().then(() => decodePage(kind, text));
  return { head: page.then(headOf, () => null), page };
}

/** Where the worker's script is: `file` to start, and `entry`, the module it loads when `file` is tsx's. */
export interface WorkerScript {
  file: URL;
  entry?: string;
}

/**
 * From source (tests, `npm start`, benches) the worker loads page-worker.ts through tsx; in the Electron
 * app this module is bundled into main.mjs and page-worker.mjs is built beside it (electron/build.ts).
 */
function pageWorkerScript(): WorkerScript {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? { file: new URL('../../shared/worker-entry.mjs', here), entry: new URL('./page-worker.ts', here).href }
    : { file: new URL('./page-worker.mjs', here) };
}
