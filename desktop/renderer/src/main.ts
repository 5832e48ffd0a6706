import type { DeskBridge } from '../../bridge.ts';
import type { SyncStatus } from '../../sync/index.ts';
import { absencesScreen } from './absences.ts';
import { AttendanceScreen } from './attendance.ts';
import { classesScreen } from './classes.ts';
import { ConflictsScreen } from './conflicts.ts';
import { h } from './dom.ts';
import { examsScreen } from './exams.ts';
import { HttpBridge } from './http-bridge.ts';
import {
  CURRENCIES,
  LANGUAGE_NAMES,
  LANGUAGES,
  language,
  locale,
  schoolCurrency,
  setLanguage,
  setSchoolCurrency,
  t,
  type Language,
} from './i18n/index.ts';
import { paymentsScreen } from './payments.ts';
import { renderStatusBar } from './status-bar.ts';
import { studentsScreen } from './students.ts';
import { teachersScreen } from './teachers.ts';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a plain browser (the harness). */
    deskBridge?: DeskBridge;
    /** Set by the Electron preload: asks for a new server address and token, and restarts the desk. */
    deskSetup?: {
      reconnect?: () => Promise<void>;
      /** On the first-run form: stores the address and token; a message when they cannot be used. */
      save?: (serverUrl: string, token: string) => Promise<string | null>;
    };
  }
}

const bridge: DeskBridge = window.deskBridge ?? new HttpBridge();
const statusBar = document.querySelector<HTMLElement>('#status-bar');
const main = document.querySelector<HTMLElement>('#screen');
const nav = document.querySelector<HTMLElement>('#nav');
const problem = document.querySelector<HTMLElement>('#problem');
if (statusBar === null || main === null || nav === null || problem === null)
  throw new Error('index.html is incomplete');

const fail = (err: unknown): void => {
  problem.textContent = t('app.problem', { message: err instanceof Error ? err.message : String(err) });
  problem.hidden = false;
};

let status: SyncStatus | null = null;
let pending = 0;
const conflictCount = h('span', { class: 'badge', 'data-test': 'conflict-count' }, '0');
const students = studentsScreen(bridge, fail);
let refused = 0;
const conflicts = new ConflictsScreen(bridge, fail, (count, refusals) => {
  const attention = count + refusals;
  conflictCount.textContent = String(attention);
  conflictCount.hidden = attention === 0;
  if (refusals !== refused) {
    refused = refusals;
    drawStatus();
  }
});
document.body.append(conflicts.dialog);

const screens = {
  students,
  classes: classesScreen(bridge, fail),
  teachers: teachersScreen(bridge, fail),
  exams: examsScreen(bridge, fail),
  payments: paymentsScreen(bridge, fail),
  attendance: new AttendanceScreen(bridge, fail),
  absences: absencesScreen(bridge, fail),
  conflicts,
} as const;
type ScreenName = keyof typeof screens;
const tab = (name: ScreenName, label: string): HTMLButtonElement =>
  h('button', { 'data-test': `tab-${name}`, onclick: () => show(name) }, label);
const tabs: Record<ScreenName, HTMLButtonElement> = {
  students: tab('students', t('tab.students')),
  classes: tab('classes', t('tab.classes')),
  teachers: tab('teachers', t('tab.teachers')),
  exams: tab('exams', t('tab.exams')),
  payments: tab('payments', t('tab.payments')),
  attendance: tab('attendance', t('tab.attendance')),
  absences: tab('absences', t('tab.absences')),
  conflicts: h(
    'button',
    { 'data-test': 'tab-conflicts', onclick: () => show('conflicts') },
    `${t('tab.conflicts')} `,
    conflictCount,
  ),
};
nav.append(...Object.values(tabs), settings());

/**
 * The language and the school's currency, kept in this desk's profile (localStorage). Every text and format
 * is chosen when the page starts, so a change reloads the page (the desk and its work are untouched).
 */
function settings(): HTMLElement {
  const languages = h(
    'select',
    { 'data-test': 'language', 'aria-label': t('settings.language'), title: t('settings.language') },
    ...LANGUAGES.map((l) =>
      h('option', { value: l, ...(l === language ? { selected: true } : {}) }, LANGUAGE_NAMES[l]),
    ),
  );
  languages.addEventListener('change', () => {
    setLanguage(languages.value as Language);
    window.location.reload();
  });
  const currencies = h(
    'select',
    { 'data-test': 'currency', 'aria-label': t('settings.currency'), title: t('settings.currency') },
    ...CURRENCIES.map((c) =>
      h('option', { value: c, ...(c === schoolCurrency ? { selected: true } : {}) }, c),
    ),
  );
  currencies.addEventListener('change', () => {
    setSchoolCurrency(currencies.value);
    window.location.reload();
  });
  return h('div', { class: 'settings' }, languages, currencies);
}
document.documentElement.lang = locale;
document.title = t('app.title');

let current: ScreenName = 'students';

function show(name: ScreenName): void {
  current = name;
  for (const [key, tab] of Object.entries(tabs)) tab.classList.toggle('active', key === name);
  main?.replaceChildren(screens[name].root);
  screens[name].refresh();
}

const reconnect = window.deskSetup?.reconnect;
const askForToken =
  reconnect === undefined
    ? null
    : (): void => {
        reconnect().catch(fail);
      };

function drawStatus(): void {
  if (statusBar !== null) renderStatusBar(statusBar, status, pending, refused, askForToken);
}
let lastConflicts = -1;

bridge.subscribe((event) => {
  if (event.kind === 'status') {
    status = event.status;
    // Uploads answered: a refusal changes no row, yet the screen in view shows the server's reason.
    if (event.status.pending < pending) {
      if (current !== 'conflicts') screens[current].refresh();
      conflicts.refresh();
    }
    pending = event.status.pending;
    drawStatus();
    if (event.status.conflicts !== lastConflicts) {
      lastConflicts = event.status.conflicts;
      conflicts.refresh();
    }
    return;
  }
  // The screen in view redraws for any data change (its lists may show several types); the others redraw
  // when shown.
  if (current !== 'conflicts') screens[current].refresh();
  conflicts.refresh();
  bridge
    .pendingCount()
    .then((count) => {
      pending = count;
      drawStatus();
    })
    .catch(fail);
});

Promise.all([bridge.status(), bridge.pendingCount()])
  .then(([s, count]) => {
    status = s;
    pending = count;
    drawStatus();
  })
  .catch(fail);
drawStatus();
show('students');
conflicts.refresh();
