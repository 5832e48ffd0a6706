import type { SyncStatus } from '../../sync/index.ts';
import { h, timeOf } from './dom.ts';
import { t, tOr } from './i18n/index.ts';

function stateOf(status: SyncStatus | null): { text: string; cls: string } {
  if (status === null || status.activity === 'starting')
    return { text: t('status.connecting'), cls: 'starting' };
  if (!status.online) return { text: t('status.offline'), cls: 'offline' };
  if (status.activity === 'snapshot') return { text: t('status.snapshot'), cls: 'online' };
  if (status.activity === 'catching-up') return { text: t('status.catchingUp'), cls: 'online' };
  if (status.uploading) return { text: t('status.sending'), cls: 'online' };
  return { text: t('status.online'), cls: 'online' };
}

function pendingText(pending: number, held: number): string {
  if (pending === 0) return t('status.allSent');
  const waiting = t('status.waiting', { count: pending });
  if (held === 0) return waiting;
  return held === pending
    ? t('status.heldAll', { count: held, waiting })
    : t('status.heldSome', { held, waiting });
}

/** Errors that only a new token mends. */
const TOKEN_ERRORS = new Set(['UNAUTHORIZED', 'TOKEN_EXPIRED', 'TOKEN_REVOKED']);

/** Whether the details drawer is open: it stays so across redraws until she closes it. */
let drawerOpen = false;

/** A part of the bar that shrinks with an ellipsis when the line is full; hovering shows all of it. */
function item(test: string, cls: string, text: string, attrs: Record<string, string> = {}): HTMLElement {
  return h('span', { class: cls, 'data-test': test, title: text, ...attrs }, text);
}

/**
 * The bar at the top of every screen: connection, pending uploads, refused edits, last sync, progress, last
 * error. It stays one line whatever it says: each text shrinks with an ellipsis and shows in full on hover
 * and in the details drawer. `reconnect`: where the desk can take a new token (the Electron app), offered
 * when the server no longer accepts this one.
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
  const errorText = error === null ? null : tOr(`error.${error.code}`, error.message);
  const progressText =
    progress === null
      ? null
      : total === null
        ? t('status.progressReceived', { done: progress.done })
        : t('status.progressOf', { done: progress.done, total });
  const texts = {
    pending: pendingText(pending, status?.held ?? 0),
    refused: refused === 0 ? null : t('status.refused', { count: refused }),
    lastSync: t('status.lastSync', { time: timeOf(status?.lastSyncAt ?? null) }),
  };
  const drawer = h(
    'div',
    { class: 'status-drawer', 'data-test': 'status-drawer' },
    ...[state.text, texts.pending, texts.refused, progressText, texts.lastSync, errorText]
      .filter((text): text is string => text !== null)
      .map((text) => h('p', {}, text)),
  );
  drawer.hidden = !drawerOpen;
  const toggle = h(
    'button',
    {
      class: 'details',
      'data-test': 'status-details',
      'aria-expanded': String(drawerOpen),
      onclick: () => {
        drawerOpen = !drawerOpen;
        drawer.hidden = !drawerOpen;
        toggle.setAttribute('aria-expanded', String(drawerOpen));
      },
    },
    t('status.details'),
  );
  const parts: (HTMLElement | null)[] = [
    h('span', { class: `pill ${state.cls}`, 'data-test': 'connection' }, state.text),
    item('pending', 'item', texts.pending, { 'data-count': String(pending) }),
    texts.refused === null
      ? null
      : item('refused', 'item error', texts.refused, { 'data-count': String(refused) }),
    progressText === null || progress === null
      ? null
      : h(
          'span',
          { class: 'item progress', 'data-test': 'progress', title: progressText },
          h('progress', total === null ? {} : { max: String(total), value: String(progress.done) }),
          h('span', { class: 'progress-text' }, ` ${progressText}`),
        ),
    item('last-sync', 'item', texts.lastSync),
    error === null || errorText === null
      ? null
      : item('last-error', 'item error last-error', errorText, { 'data-code': error.code }),
    error !== null && reconnect !== null && TOKEN_ERRORS.has(error.code)
      ? h('button', { 'data-test': 'reconnect', onclick: reconnect }, t('status.newToken'))
      : null,
    toggle,
    drawer,
  ];
  root.replaceChildren(...parts.filter((part): part is HTMLElement => part !== null));
}
