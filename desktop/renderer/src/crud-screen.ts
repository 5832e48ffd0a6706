import type { EntityType } from '../../../shared/entities.ts';
import type { DeskBridge, EntityRecord } from '../../bridge.ts';
import type { FieldIssue } from '../../store/index.ts';
import { h } from './dom.ts';
import { historyPanel } from './history-panel.ts';
import { confirmDelete, row, rowActions, table } from './lists.ts';

export type SaveFields = (fields: Record<string, unknown>) => Promise<FieldIssue[]>;

export interface CrudConfig {
  type: EntityType;
  /** `data-test` prefix: "teacher" gives teacher-screen, teacher-row, new-teacher, teacher-search. */
  test: string;
  /** `data-test` of the screen when not `<test>-screen`. */
  screenTest?: string;
  title: string;
  newLabel: string;
  /** Shows a search box with this placeholder. */
  searchPlaceholder?: string;
  headers: string[];
  load: (search: string) => Promise<EntityRecord[]>;
  cells: (entity: EntityRecord) => (string | HTMLElement)[];
  form: (entity: EntityRecord | null, save: SaveFields, cancel: () => void) => Promise<HTMLFormElement>;
  /** How the delete question names the entity. */
  describe: (entity: EntityRecord) => string;
  empty: (search: string) => string;
}

/** A list of one entity type with create, edit and delete beside it; redraws on `refresh`. */
export class CrudScreen {
  readonly root: HTMLElement;
  /** Extra content below the list and form (e.g. the years and levels of the classes screen). */
  readonly below = h('div', { class: 'below' });
  private search = '';
  private editing: EntityRecord | 'new' | null = null;
  private readonly listBox = h('div', { class: 'list' });
  private readonly formBox = h('div', { class: 'form-box' });

  constructor(
    private readonly bridge: DeskBridge,
    private readonly fail: (err: unknown) => void,
    private readonly config: CrudConfig,
    toolbarExtras: HTMLElement[] = [],
  ) {
    let searchInput: HTMLInputElement | null = null;
    if (config.searchPlaceholder !== undefined) {
      searchInput = h('input', {
        type: 'search',
        placeholder: config.searchPlaceholder,
        'data-test': `${config.test}-search`,
      });
      const input = searchInput;
      input.addEventListener('input', () => {
        this.search = input.value;
        this.refresh();
      });
    }
    this.root = h(
      'section',
      { class: 'screen', 'data-test': config.screenTest ?? `${config.test}-screen` },
      h(
        'div',
        { class: 'toolbar' },
        h('h1', {}, config.title),
        ...toolbarExtras,
        searchInput,
        h(
          'button',
          { class: 'primary', 'data-test': `new-${config.test}`, onclick: () => this.open('new') },
          config.newLabel,
        ),
      ),
      h('div', { class: 'columns' }, this.listBox, this.formBox),
      this.below,
    );
  }

  refresh(): void {
    this.config
      .load(this.search)
      .then((entities) => this.renderList(entities))
      .catch(this.fail);
  }

  private renderList(entities: EntityRecord[]): void {
    const { config } = this;
    const rows = entities.map((e) =>
      row(
        `${config.test}-row`,
        e,
        ...config.cells(e),
        rowActions(
          () => this.open(e),
          () => this.remove(e),
        ),
      ),
    );
    this.listBox.replaceChildren(table([...config.headers, ''], rows, config.empty(this.search)));
  }

  private open(entity: EntityRecord | 'new'): void {
    this.editing = entity;
    this.config
      .form(
        entity === 'new' ? null : entity,
        (fields) => this.save(fields),
        () => this.close(),
      )
      .then((form) => {
        // Every record's edit form says who changed it, when and from where.
        this.formBox.replaceChildren(
          form,
          ...(entity === 'new' ? [] : [historyPanel(this.bridge, this.config.type, entity.id)]),
        );
        form.querySelector('input')?.focus();
      })
      .catch(this.fail);
  }

  private close(): void {
    this.editing = null;
    this.formBox.replaceChildren();
  }

  private async save(fields: Record<string, unknown>): Promise<FieldIssue[]> {
    const editing = this.editing;
    if (editing === null) return [];
    const result =
      editing === 'new'
        ? await this.bridge.create(this.config.type, fields)
        : await this.bridge.update(this.config.type, editing.id, fields);
    if (!result.ok) return result.issues;
    this.close();
    this.refresh();
    return [];
  }

  private remove(entity: EntityRecord): void {
    if (!confirmDelete(this.config.describe(entity))) return;
    this.bridge
      .remove(this.config.type, entity.id)
      .then(() => this.refresh())
      .catch(this.fail);
  }
}
