import { SERVER_MANAGED_FIELDS, type EntityType } from '../../../shared/entities.ts';
import type { HistoryEntry } from '../../../shared/protocol.ts';
import type { DeskBridge, PendingEdit } from '../../bridge.ts';
import { display, h, labelOf } from './dom.ts';
import { formatShortDay, formatShortDayTime, language, t } from './i18n/index.ts';

/** An edit received this long after it was made was made offline (a desk online sends it at once). */
const OFFLINE_AFTER_MS = 2 * 60_000;

const day = formatShortDay;
const dayTime = formatShortDayTime;

/** A reference (classId, examId …) changed: its id means nothing to a person. */
const isReference = (field: string): boolean => /Id$/.test(field);

function fieldChange(field: string, from: unknown, to: unknown, operation: string): string {
  const label = labelOf(field);
  if (isReference(field)) return operation === 'UPDATE' ? t('history.refChanged', { label }) : '';
  if (operation === 'CREATE') return `${label} ${display(to)}`;
  if (operation === 'DELETE') return t('history.wasValue', { label, value: display(from) });
  return from === undefined ? `${label} → ${display(to)}` : `${label} ${display(from)} → ${display(to)}`;
}

/** What changed, in words: "Score 12 → 14; Notes — → late". */
export function changeWords(entry: Pick<HistoryEntry, 'operation' | 'changes'>): string {
  const parts = Object.entries(entry.changes)
    .map(([field, change]) => fieldChange(field, change.from, change.to, entry.operation))
    .filter((part) => part !== '');
  const listed = parts.join('; ');
  if (entry.operation === 'CREATE')
    return listed === '' ? t('history.created') : t('history.createdWith', { changes: listed });
  if (entry.operation === 'DELETE')
    return listed === '' ? t('history.deleted') : t('history.deletedWith', { changes: listed });
  return listed === '' ? t('history.noVisible') : listed;
}

/**
 * One entry as a sentence: "Score 12 → 14, by m.diallo on desk Secretariat-2, edited offline on 28 Nov,
 * received 29 Nov 08:02"; "Changed on the server (web app): Score 12 → 13, on 29 Nov 08:02"; "Kept
 * a.sow's version after a conflict: Score 13 → 14, …".
 */
export function entryWords(entry: HistoryEntry, thisClientId = ''): string {
  const user = entry.origin.userId ?? t('history.someone');
  let what = changeWords(entry);
  if (entry.decision === 'ACCEPT_SERVER') what = t('history.keptServer');
  else if (entry.decision === 'KEEP_LOCAL') what = t('history.keptUser', { user, what });
  if (entry.origin.kind === 'SERVER') {
    return t('history.onServer', { what, when: dayTime(entry.committedAt) });
  }
  const desk = entry.origin.clientId ?? '?';
  const who =
    desk === thisClientId ? t('history.thisDesk', { user }) : t('history.otherDesk', { user, desk });
  const edited = entry.editedAt;
  const late = edited !== undefined && Date.parse(entry.committedAt) - Date.parse(edited) > OFFLINE_AFTER_MS;
  const when = late
    ? t('history.editedOffline', { day: day(edited), when: dayTime(entry.committedAt) })
    : t('history.on', { when: dayTime(entry.committedAt) });
  return t('history.entry', { what, who, when });
}

function pendingWords(edit: PendingEdit): string {
  // The desk keeps the whole row it will send: its bookkeeping and empty fields say nothing to a person.
  const changes = Object.fromEntries(
    Object.entries(edit.payload)
      .filter(
        ([field, to]) => !SERVER_MANAGED_FIELDS.has(field) && !isReference(field) && to !== null && to !== '',
      )
      .map(([field, to]) => [field, { from: undefined, to }]),
  );
  const what =
    edit.operation === 'DELETE'
      ? t('history.deleted')
      : changeWords({ operation: edit.operation === 'CREATE' ? 'CREATE' : 'UPDATE', changes });
  const state = edit.status === 'CONFLICT' ? t('history.waitsDecision') : t('history.notSent');
  return t('history.pending', { what, when: dayTime(edit.createdAt), state });
}

/**
 * A record's "History": who changed it, when and from where, from the server. It needs the network;
 * offline it says so and lists what this desk knows itself: its own edits not yet sent. Loaded when opened.
 */
export function historyPanel(
  bridge: DeskBridge,
  type: EntityType,
  id: string,
  options: { open?: boolean; title?: string } = {},
): HTMLElement {
  const body = h('div', { class: 'history-body' });
  const panel = h(
    'details',
    { class: 'card history', 'data-test': 'history', ...(options.open === true ? { open: true } : {}) },
    h('summary', { 'data-test': 'history-toggle' }, options.title ?? t('history.title')),
    body,
  );
  let loadedAt = 0;
  const load = (): void => {
    // An element created open may also fire `toggle`: one read is enough.
    if (Date.now() - loadedAt < 500) return;
    loadedAt = Date.now();
    body.replaceChildren(h('p', { class: 'muted' }, t('history.asking')));
    bridge
      .history(type, id)
      .then((history) => {
        const pending =
          history.pending.length === 0
            ? null
            : h(
                'ul',
                { class: 'history-pending', 'data-test': 'history-pending' },
                ...history.pending.map((edit) => h('li', {}, pendingWords(edit))),
              );
        if (!history.online) {
          body.replaceChildren(
            h(
              'p',
              { class: 'history-offline', 'data-test': 'history-offline' },
              // The desk core words its reason in English; other languages say the usual one.
              t('history.offline', { reason: language === 'en' ? history.reason : t('history.unreachable') }),
            ),
            pending === null
              ? h('p', { class: 'muted' }, t('history.noOwnEdits'))
              : h('p', {}, t('history.ownEdits')),
            ...(pending === null ? [] : [pending]),
          );
          return;
        }
        const entries = history.entries.map((entry) =>
          h(
            'li',
            { 'data-test': 'history-entry', 'data-origin': entry.origin.kind },
            entryWords(entry, history.thisClientId),
          ),
        );
        body.replaceChildren(
          ...(pending === null ? [] : [pending]),
          entries.length === 0
            ? h('p', { class: 'muted' }, t('history.none'))
            : h('ol', { class: 'history-entries' }, ...entries),
        );
      })
      .catch((err: unknown) => {
        body.replaceChildren(
          h('p', { class: 'history-offline' }, t('history.unreadable', { message: String(err) })),
        );
      });
  };
  panel.addEventListener('toggle', () => {
    if (panel.open) load();
  });
  if (options.open === true) load();
  return panel;
}
