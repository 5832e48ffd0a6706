export { Backoff, parseRetryAfter } from '../../shared/timing.ts';
export {
  DEFAULT_DESK_SYNC_OPTIONS,
  DeskSync,
  type DeskSyncConfig,
  type DeskSyncOptions,
  type Service,
} from './desk-sync.ts';
export { SyncHttpError, type TokenProvider } from './sync-http.ts';
export type {
  ChecksumStatus,
  DownloadProgress,
  SyncActivity,
  SyncErrorInfo,
  SyncStatus,
} from './sync-status.ts';
