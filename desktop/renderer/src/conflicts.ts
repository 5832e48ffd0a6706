import type { DeskBridge } from '../../bridge.ts';
import type { ConflictView } from '../../store/index.ts';
import { display, h, labelOf, timeOf } from './dom.ts';

const HIDDEN = new Set(['id', 'tenantId', 'serverVersion', 'updatedAt']);

function titleOf(conflict: ConflictView): string {
  const data = conflict.local.current ?? conflict.local.payload;
  const name = [data.firstName, data.lastName].filter((v) => typeof v === 'string').join(' ');
  return `${labelOf(conflict.entityType.toLowerCase().replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()))}${name === '' ? '' : ` ${name}`}`;
}

function fieldsOf(conflict: ConflictView): string[] {
  const keys = new Set([...Object.keys(conflict.local.payload), ...Object.keys(conflict.server.data ?? {})]);
  return [...keys].filter((k) => !HIDDEN.has(k)).sort();
}

/** The conflicts screen: what waits for a decision, and the side-by-side dialog to decide it. */
export class ConflictsScreen {
  readonly root = h('section', { class: 'screen', 'data-test': 'conflicts-screen' });
  readonly dialog = h('dialog', { class: 'conflict-dialog', 'data-test': 'conflict-dialog' });
  private readonly listBox = h('div', { class: 'list' });

  constructor(
    private readonly bridge: DeskBridge,
    private readonly fail: (err: unknown) => void,
    private readonly onCount: (count: number) => void,
  ) {
    this.root.append(
      h('div', { class: 'toolbar' }, h('h1', {}, 'Conflicts')),
      h(
        'p',
        { class: 'hint' },
        'These changes were made here while someone else changed the same record on the server. Choose which version to keep.',
      ),
      this.listBox,
    );
  }

  refresh(): void {
    this.bridge
      .conflicts()
      .then((conflicts) => this.render(conflicts))
      .catch(this.fail);
  }

  private render(conflicts: ConflictView[]): void {
    this.onCount(conflicts.length);
    const open = this.dialog.dataset.id;
    if (open !== undefined && !conflicts.some((c) => c.outboxEventId === open)) this.closeDialog();
    this.listBox.replaceChildren(
      conflicts.length === 0
        ? h('p', { class: 'empty' }, 'No conflicts. Everything you changed agrees with the server.')
        : h(
            'ul',
            { class: 'conflicts' },
            ...conflicts.map((c) =>
              h(
                'li',
                { 'data-test': 'conflict-row', 'data-id': c.outboxEventId },
                h('strong', {}, titleOf(c)),
                h(
                  'span',
                  { class: 'muted' },
                  ` · ${c.differingFields.map(labelOf).join(', ') || (c.operation === 'DELETE' ? 'deleted here' : 'changed')} · ${timeOf(c.createdAt)}`,
                ),
                c.resolution === 'KEEP_LOCAL'
                  ? h('span', { class: 'muted' }, ' · sending your version…')
                  : h('button', { 'data-test': 'review', onclick: () => this.openDialog(c) }, 'Review'),
              ),
            ),
          ),
    );
  }

  private openDialog(conflict: ConflictView): void {
    const differing = new Set(conflict.differingFields);
    // What keeping this desk's version leads to: the row as it is here now, later edits included.
    const mine = conflict.operation === 'DELETE' ? null : (conflict.local.current ?? conflict.local.payload);
    const theirs = conflict.server.data;
    const rows = fieldsOf(conflict).map((field) =>
      h(
        'tr',
        { class: differing.has(field) ? 'differs' : '', 'data-field': field },
        h('th', {}, labelOf(field)),
        h('td', { 'data-test': 'mine' }, mine === null ? 'deleted' : display(mine[field])),
        h('td', { 'data-test': 'theirs' }, theirs === null ? 'deleted' : display(theirs[field])),
      ),
    );
    const decide = (choice: 'KEEP_LOCAL' | 'ACCEPT_SERVER'): void => {
      this.bridge
        .resolve(conflict.outboxEventId, choice)
        .then(() => {
          this.closeDialog();
          this.refresh();
        })
        .catch(this.fail);
    };
    this.dialog.dataset.id = conflict.outboxEventId;
    this.dialog.replaceChildren(
      h('h2', {}, `${titleOf(conflict)}: two versions`),
      h('p', { class: 'hint' }, 'Highlighted rows differ. Your version was made on this computer.'),
      ...(conflict.edits > 1
        ? [
            h(
              'p',
              { class: 'hint', 'data-test': 'edits' },
              `This decision covers your ${conflict.edits} changes to this record. Keeping yours sends them all;` +
                " taking the server's drops them.",
            ),
          ]
        : []),
      h(
        'table',
        { class: 'side-by-side' },
        h(
          'thead',
          {},
          h('tr', {}, h('th', {}, 'Field'), h('th', {}, 'Your version'), h('th', {}, "Server's version")),
        ),
        h('tbody', {}, ...rows),
      ),
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          { class: 'primary', 'data-test': 'keep-mine', onclick: () => decide('KEEP_LOCAL') },
          'Keep mine',
        ),
        h(
          'button',
          { 'data-test': 'take-server', onclick: () => decide('ACCEPT_SERVER') },
          "Take the server's",
        ),
        h('button', { class: 'link', onclick: () => this.closeDialog() }, 'Decide later'),
      ),
    );
    if (!this.dialog.open) this.dialog.showModal();
  }

  private closeDialog(): void {
    delete this.dialog.dataset.id;
    if (this.dialog.open) this.dialog.close();
  }
}
