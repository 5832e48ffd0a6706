import type { DeskBridge } from '../../bridge.ts';
import type { SyncStatus } from '../../sync/index.ts';
import { ConflictsScreen } from './conflicts.ts';
import { h } from './dom.ts';
import { HttpBridge } from './http-bridge.ts';
import { renderStatusBar } from './status-bar.ts';
import { StudentsScreen } from './students.ts';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a plain browser (the harness). */
    deskBridge?: DeskBridge;
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
  problem.textContent = `Something went wrong on this computer: ${err instanceof Error ? err.message : String(err)}`;
  problem.hidden = false;
};

let status: SyncStatus | null = null;
let pending = 0;
const conflictCount = h('span', { class: 'badge', 'data-test': 'conflict-count' }, '0');
const students = new StudentsScreen(bridge, fail);
const conflicts = new ConflictsScreen(bridge, fail, (count) => {
  conflictCount.textContent = String(count);
  conflictCount.hidden = count === 0;
});
document.body.append(conflicts.dialog);

const screens = { students, conflicts } as const;
type ScreenName = keyof typeof screens;
const tabs = {
  students: h('button', { 'data-test': 'tab-students', onclick: () => show('students') }, 'Students'),
  conflicts: h(
    'button',
    { 'data-test': 'tab-conflicts', onclick: () => show('conflicts') },
    'Conflicts ',
    conflictCount,
  ),
};
nav.append(tabs.students, tabs.conflicts);

function show(name: ScreenName): void {
  for (const [key, tab] of Object.entries(tabs)) tab.classList.toggle('active', key === name);
  main?.replaceChildren(screens[name].root);
  screens[name].refresh();
}

const drawStatus = (): void => renderStatusBar(statusBar, status, pending);
let lastConflicts = -1;

bridge.subscribe((event) => {
  if (event.kind === 'status') {
    status = event.status;
    pending = event.status.pending;
    drawStatus();
    if (event.status.conflicts !== lastConflicts) {
      lastConflicts = event.status.conflicts;
      conflicts.refresh();
    }
    return;
  }
  if (event.type === 'STUDENT') students.refresh();
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
