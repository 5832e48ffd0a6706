import type { DeskBridge, EntityRecord } from '../../bridge.ts';
import type { FieldIssue } from '../../store/index.ts';
import { display, h } from './dom.ts';
import { studentForm, type StudentFormValues } from './student-form.ts';

/** The students screen: search, list, create, edit, delete. Redraws when the data changes. */
export class StudentsScreen {
  readonly root = h('section', { class: 'screen', 'data-test': 'students-screen' });
  private search = '';
  private editing: EntityRecord | 'new' | null = null;
  private readonly listBox = h('div', { class: 'list' });
  private readonly formBox = h('div', { class: 'form-box' });
  private readonly searchInput = h('input', {
    type: 'search',
    placeholder: 'Search by name…',
    'data-test': 'student-search',
  });

  constructor(
    private readonly bridge: DeskBridge,
    private readonly fail: (err: unknown) => void,
  ) {
    this.searchInput.addEventListener('input', () => {
      this.search = this.searchInput.value;
      this.refresh();
    });
    this.root.append(
      h(
        'div',
        { class: 'toolbar' },
        h('h1', {}, 'Students'),
        this.searchInput,
        h(
          'button',
          { class: 'primary', 'data-test': 'new-student', onclick: () => this.open('new') },
          'New student',
        ),
      ),
      h('div', { class: 'columns' }, this.listBox, this.formBox),
    );
  }

  refresh(): void {
    this.bridge
      .list({ type: 'STUDENT', search: this.search, limit: 500 })
      .then((students) => this.renderList(students))
      .catch(this.fail);
  }

  private renderList(students: EntityRecord[]): void {
    const rows = students
      .slice()
      .sort((a, b) => display(a.lastName).localeCompare(display(b.lastName)) || a.id.localeCompare(b.id))
      .map((s) =>
        h(
          'tr',
          { 'data-test': 'student-row', 'data-id': s.id },
          h('td', {}, display(s.lastName)),
          h('td', {}, display(s.firstName)),
          h('td', {}, display(s.birthDate)),
          h('td', { class: 'notes' }, display(s.notes)),
          h(
            'td',
            { class: 'row-actions' },
            h('button', { 'data-test': 'edit', onclick: () => this.open(s) }, 'Edit'),
            h('button', { class: 'danger', 'data-test': 'delete', onclick: () => this.remove(s) }, 'Delete'),
          ),
        ),
      );
    this.listBox.replaceChildren(
      rows.length === 0
        ? h(
            'p',
            { class: 'empty' },
            this.search === '' ? 'No students yet.' : 'No student matches this search.',
          )
        : h(
            'table',
            {},
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', {}, 'Last name'),
                h('th', {}, 'First name'),
                h('th', {}, 'Birth date'),
                h('th', {}, 'Notes'),
                h('th', {}, ''),
              ),
            ),
            h('tbody', {}, ...rows),
          ),
    );
  }

  private open(student: EntityRecord | 'new'): void {
    this.editing = student;
    this.bridge
      .list({ type: 'CLASS' })
      .then((classes) => {
        const form = studentForm({
          student: student === 'new' ? null : student,
          classes,
          onSave: (values) => this.save(values),
          onCancel: () => this.close(),
        });
        this.formBox.replaceChildren(form);
        form.querySelector('input')?.focus();
      })
      .catch(this.fail);
  }

  private close(): void {
    this.editing = null;
    this.formBox.replaceChildren();
  }

  private async save(values: StudentFormValues): Promise<FieldIssue[]> {
    const editing = this.editing;
    if (editing === null) return [];
    const fields: Record<string, unknown> = { ...values };
    const result =
      editing === 'new'
        ? await this.bridge.create('STUDENT', fields)
        : await this.bridge.update('STUDENT', editing.id, fields);
    if (!result.ok) return result.issues;
    this.close();
    this.refresh();
    return [];
  }

  private remove(student: EntityRecord): void {
    const name = `${display(student.firstName)} ${display(student.lastName)}`;
    if (!window.confirm(`Delete ${name}? This is sent to the school server.`)) return;
    this.bridge
      .remove('STUDENT', student.id)
      .then(() => this.refresh())
      .catch(this.fail);
  }
}
