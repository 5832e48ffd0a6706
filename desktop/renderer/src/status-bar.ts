import type { SyncStatus } from '../../sync/index.ts';
import { h, timeOf } from './dom.ts';

function stateOf(status: SyncStatus | null): { text: string; cls: string } {
  if (status === null || status.activity === 'starting') return { text: 'Connecting…', cls: 'starting' };
  if (!status.online) return { text: 'Offline', cls: 'offline' };
  if (status.activity === 'snapshot') return { text: 'Online · downloading the school', cls: 'online' };
  if (status.activity === 'catching-up') return { text: 'Online · catching up', cls: 'online' };
  if (status.uploading) return { text: 'Online · sending', cls: 'online' };
  return { text: 'Online', cls: 'online' };
}

function pendingText(pending: number, held: number): string {
  if (pending === 0) return 'All changes sent';
  const waiting = pending === 1 ? '1 change waiting to be sent' : `${pending} changes waiting to be sent`;
  if (held === 0) return waiting;
  return `${waiting}, ${held === pending ? (held === 1 ? 'it waits' : 'all wait') : `${held} of them wait`} for your decision (see Conflicts)`;
}

function refusedText(refused: number): string {
  return refused === 1
    ? '1 change refused by the server (see Conflicts)'
    : `${refused} changes refused by the server (see Conflicts)`;
}

/** Errors that only a new token mends. */
const TOKEN_ERRORS = new Set(['UNAUTHORIZED', 'TOKEN_EXPIRED', 'TOKEN_REVOKED']);

/**
 * The bar at the top of every screen: connection, pending uploads, refused edits, last sync, progress, last
 * error. `reconnect`: where the desk can take a new token (the Electron app), offered when the server no
 * longer accepts this one.
 */
export function renderStatusBar(
  root: HTMLElement,
  status: SyncStatus | null,
  pending: number,
  refused = 0,
  reconnect: (() => void) | null = null,
): void {
  const state = stateOf(status);
  const progress = status?.progress ?? null;
  const error = status?.lastError ?? null;
  const total = progress?.total ?? null;
  const parts: (HTMLElement | null)[] = [
    h('span', { class: `pill ${state.cls}`, 'data-test': 'connection' }, state.text),
    h(
      'span',
      { class: 'item', 'data-test': 'pending', 'data-count': String(pending) },
      pendingText(pending, status?.held ?? 0),
    ),
    refused === 0
      ? null
      : h(
          'span',
          { class: 'error', 'data-test': 'refused', 'data-count': String(refused) },
          refusedText(refused),
        ),
    h(
      'span',
      { class: 'item', 'data-test': 'last-sync' },
      `Last sync: ${timeOf(status?.lastSyncAt ?? null)}`,
    ),
    progress === null
      ? null
      : h(
          'span',
          { class: 'item progress', 'data-test': 'progress' },
          h('progress', total === null ? {} : { max: String(total), value: String(progress.done) }),
          total === null ? ` ${progress.done} received` : ` ${progress.done} of ${total}`,
        ),
    error === null
      ? null
      : h('span', { class: 'error', 'data-test': 'last-error', title: error.code }, error.message),
    error !== null && reconnect !== null && TOKEN_ERRORS.has(error.code)
      ? h('button', { 'data-test': 'reconnect', onclick: reconnect }, 'Enter a new token')
      : null,
  ];
  root.replaceChildren(...parts.filter((part): part is HTMLElement => part !== null));
}
