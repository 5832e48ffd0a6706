import type { EntityType } from '../../shared/entities.ts';
import { SyncHttpError } from './sync-http.ts';

/** What the desk is doing with the server right now, for the status bar. */
export type SyncActivity =
  'starting' | 'idle' | 'uploading' | 'snapshot' | 'catching-up' | 'checking' | 'offline';

/** Progress of a bulk download. `total` comes from the server when it gives a hint; null: unknown. */
export interface DownloadProgress {
  kind: 'snapshot' | 'catch-up';
  /** Changes applied so far in this run. */
  done: number;
  total: number | null;
  pages: number;
}

export interface SyncErrorInfo {
  /** Stable code for the app (NETWORK, UNAUTHORIZED, RESYNC_REQUIRED, …). */
  code: string;
  /** The same in words a school secretary understands. */
  message: string;
  at: string;
}

export interface ChecksumStatus {
  at: string;
  cursor: string;
  /** Every type compared equal (after any resync below). */
  matched: boolean;
  /** Types that differed and were downloaded again. */
  resynced: EntityType[];
}

/** The sync state the UI shows. Every field is current after each 'status' event. */
export interface SyncStatus {
  activity: SyncActivity;
  /** The server answered the last request (or the socket is open). */
  online: boolean;
  /** The live connection is open: changes from other desks arrive within a second. */
  live: boolean;
  uploading: boolean;
  /** Comparing checksums with the server. */
  checking: boolean;
  progress: DownloadProgress | null;
  /** Edits not yet confirmed by the server. */
  pending: number;
  /** Of those, edits held behind a conflict: they wait for the user's decision, not for the network. */
  held: number;
  conflicts: number;
  /** Last time the desk was known to be up to date with the server (ISO). */
  lastSyncAt: string | null;
  lastError: SyncErrorInfo | null;
  checksum: ChecksumStatus | null;
}

type Listener = (status: SyncStatus) => void;

/** Holds the status and tells listeners of every change. */
export class SyncStatusBoard {
  private current: SyncStatus = {
    activity: 'starting',
    online: false,
    live: false,
    uploading: false,
    checking: false,
    progress: null,
    pending: 0,
    held: 0,
    conflicts: 0,
    lastSyncAt: null,
    lastError: null,
    checksum: null,
  };
  private readonly listeners = new Set<Listener>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  get status(): SyncStatus {
    return this.current;
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  update(patch: Partial<SyncStatus>): void {
    const next = { ...this.current, ...patch };
    next.activity = activityOf(next);
    this.current = next;
    for (const listener of [...this.listeners]) {
      try {
        listener(next);
      } catch {
        // A broken status listener must not stop the sync; the UI reports its own faults.
      }
    }
  }

  synced(): void {
    this.update({ lastSyncAt: this.now().toISOString(), online: true, lastError: null });
  }

  failed(err: unknown): SyncErrorInfo {
    const info = describeError(err, this.now());
    // Any answer, even an error, proves the server is reachable.
    const reached = err instanceof SyncHttpError && err.kind !== 'network';
    this.update({ lastError: info, ...(reached ? { online: true } : { online: false, live: false }) });
    return info;
  }
}

function activityOf(status: SyncStatus): SyncActivity {
  if (!status.online) return status.lastError === null ? 'starting' : 'offline';
  if (status.progress !== null) return status.progress.kind === 'snapshot' ? 'snapshot' : 'catching-up';
  if (status.checking) return 'checking';
  return status.uploading ? 'uploading' : 'idle';
}

const MESSAGES: Record<string, string> = {
  NETWORK:
    'The server cannot be reached. Your work is saved on this computer and will be sent when the connection is back.',
  UNAUTHORIZED:
    "The school server no longer accepts this desk's token. Enter a new one; your work is kept on this computer.",
  TOKEN_EXPIRED: "This desk's token has expired. Enter a new one; your work is kept on this computer.",
  TOKEN_REVOKED:
    "This desk's access was revoked by the school's administrator. Enter a new token to continue; your work is kept on this computer.",
  FORBIDDEN: 'This account is not allowed to send changes. Ask your administrator.',
  UNKNOWN_TENANT: 'This school is not known to the server. Ask your administrator.',
  RESYNC_REQUIRED: 'This computer was away for a long time: the school data is being downloaded again.',
  RATE_LIMITED: 'The server is busy. Sending again in a moment.',
  NOT_READY: 'The server is busy. Trying again in a moment.',
  CHECKSUM_MISMATCH: 'Some data on this computer differed from the server and was downloaded again.',
  PAYLOAD_TOO_LARGE: 'A change is too large to send. Ask your administrator.',
};

export function describeError(err: unknown, now: Date): SyncErrorInfo {
  let code = 'INTERNAL';
  if (err instanceof SyncHttpError) {
    code = err.code;
    if (err.kind === 'http' && err.status !== null && err.status >= 500 && MESSAGES[code] === undefined) {
      code = 'SERVER_ERROR';
    }
  } else if (err instanceof Error && 'code' in err && typeof err.code === 'string') {
    code = err.code;
  }
  const message =
    MESSAGES[code] ??
    (code === 'SERVER_ERROR'
      ? 'The server has a problem right now. Your work is saved and will be sent later.'
      : 'Something went wrong while syncing. Your work is saved; the desk will try again.');
  return { code, message, at: now.toISOString() };
}
