import type { DeskBridge, Refusal } from '../../bridge.ts';
import type { ConflictView } from '../../store/index.ts';
import { display, h, labelOf, timeOf } from './dom.ts';
import { t, tOr } from './i18n/index.ts';
import { refusalWords } from './reasons.ts';

const HIDDEN = new Set(['id', 'tenantId', 'serverVersion', 'updatedAt']);

/** "Student", "Élève": what kind of record, in the desk's language. */
const typeName = (type: string): string => tOr(`entity.${type}`, type);

function titleOf(conflict: ConflictView): string {
  const data = conflict.local.current ?? conflict.local.payload;
  const name = [data.firstName, data.lastName].filter((v) => typeof v === 'string').join(' ');
  return `${typeName(conflict.entityType)}${name === '' ? '' : ` ${name}`}`;
}

/** "Student Awa Diallo": what a refused edit was about, from what it sent. */
function refusalTitle(refusal: Refusal): string {
  const name = [refusal.payload.firstName, refusal.payload.lastName, refusal.payload.name]
    .filter((v) => typeof v === 'string')
    .join(' ');
  return `${typeName(refusal.type)}${name === '' ? '' : ` ${name}`}`;
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
  private readonly refusedBox = h('div', { class: 'list', 'data-test': 'refusals' });

  constructor(
    private readonly bridge: DeskBridge,
    private readonly fail: (err: unknown) => void,
    /** How many conflicts wait for a decision, and how many refusals for the user to read. */
    private readonly onCount: (conflicts: number, refused: number) => void,
  ) {
    this.root.append(
      h('div', { class: 'toolbar' }, h('h1', {}, t('conflicts.title'))),
      h('p', { class: 'hint' }, t('conflicts.hint')),
      this.listBox,
      this.refusedBox,
    );
  }

  refresh(): void {
    Promise.all([this.bridge.conflicts(), this.bridge.refusals(null)])
      .then(([conflicts, refusals]) => {
        this.render(conflicts);
        this.renderRefusals(refusals);
        this.onCount(conflicts.length, refusals.length);
      })
      .catch(this.fail);
  }

  /** Edits the server refused for good: what and why, until she has read them. */
  private renderRefusals(refusals: Refusal[]): void {
    if (refusals.length === 0) {
      this.refusedBox.replaceChildren();
      return;
    }
    this.refusedBox.replaceChildren(
      h('h2', {}, t('conflicts.refusedTitle')),
      h('p', { class: 'hint' }, t('conflicts.refusedHint')),
      h(
        'ul',
        { class: 'conflicts' },
        ...refusals.map((r) =>
          h(
            'li',
            { 'data-test': 'refusal-row', 'data-id': r.outboxEventId },
            h('strong', {}, refusalTitle(r)),
            h('span', { class: 'muted' }, ` · ${t(`op.${r.operation}`)} · ${timeOf(r.createdAt)}`),
            h(
              'div',
              { class: 'error', 'data-test': 'refusal-reason', title: r.reason, 'data-rule': r.rule ?? '' },
              refusalWords(r),
            ),
            h(
              'button',
              {
                'data-test': 'dismiss',
                onclick: () => {
                  this.bridge
                    .dismissRefusal(r.outboxEventId)
                    .then(() => this.refresh())
                    .catch(this.fail);
                },
              },
              t('conflicts.dismiss'),
            ),
          ),
        ),
      ),
    );
  }

  private render(conflicts: ConflictView[]): void {
    const open = this.dialog.dataset.id;
    if (open !== undefined && !conflicts.some((c) => c.outboxEventId === open)) this.closeDialog();
    this.listBox.replaceChildren(
      conflicts.length === 0
        ? h('p', { class: 'empty' }, t('conflicts.none'))
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
                  ` · ${c.differingFields.map(labelOf).join(', ') || (c.operation === 'DELETE' ? t('conflicts.deletedHere') : t('conflicts.changed'))} · ${timeOf(c.createdAt)}`,
                ),
                c.resolution === 'KEEP_LOCAL'
                  ? h('span', { class: 'muted' }, ` · ${t('conflicts.sending')}`)
                  : h(
                      'button',
                      { 'data-test': 'review', onclick: () => this.openDialog(c) },
                      t('conflicts.review'),
                    ),
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
        h('td', { 'data-test': 'mine' }, mine === null ? t('conflicts.deleted') : display(mine[field])),
        h('td', { 'data-test': 'theirs' }, theirs === null ? t('conflicts.deleted') : display(theirs[field])),
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
      h('h2', {}, t('conflicts.twoVersions', { title: titleOf(conflict) })),
      h('p', { class: 'hint' }, t('conflicts.dialogHint')),
      ...(conflict.edits > 1
        ? [h('p', { class: 'hint', 'data-test': 'edits' }, t('conflicts.edits', { count: conflict.edits }))]
        : []),
      h(
        'table',
        { class: 'side-by-side' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, t('conflicts.field')),
            h('th', {}, t('conflicts.mine')),
            h('th', {}, t('conflicts.theirs')),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          { class: 'primary', 'data-test': 'keep-mine', onclick: () => decide('KEEP_LOCAL') },
          t('conflicts.keepMine'),
        ),
        h(
          'button',
          { 'data-test': 'take-server', onclick: () => decide('ACCEPT_SERVER') },
          t('conflicts.takeServer'),
        ),
        h('button', { class: 'link', onclick: () => this.closeDialog() }, t('conflicts.later')),
      ),
    );
    if (!this.dialog.open) this.dialog.showModal();
  }

  private closeDialog(): void {
    delete this.dialog.dataset.id;
    if (this.dialog.open) this.dialog.close();
  }
}
