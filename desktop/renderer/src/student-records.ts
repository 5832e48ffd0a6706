import type { EntityType } from '../../../shared/entities.ts';
import type { DeskBridge, EntityRecord, ScreenQuery } from '../../bridge.ts';
import type { FieldIssue } from '../../store/index.ts';
import { h } from './dom.ts';
import { confirmDelete, personName, row, rowActions, table } from './lists.ts';
import { StudentPicker } from './pickers.ts';
import { t } from './i18n/index.ts';

/** Adds one record of the section's type for the student; resolves with the issues to show. */
export type AddRecord = (fields: Record<string, unknown>) => Promise<FieldIssue[]>;

/** One list of a student's records (payments, absences, incidents) with a form to add one. */
export interface RecordSection {
  type: EntityType;
  /** `data-test` prefix: "payment" gives payment-row and payment-form. */
  test: string;
  title: string;
  headers: string[];
  query: (studentId: string) => ScreenQuery;
  cells: (record: EntityRecord) => string[];
  /** How the delete question names a record. */
  describe: (record: EntityRecord) => string;
  empty: string;
  /** The add form; `add` saves, empties the form and redraws. */
  form: (add: AddRecord) => HTMLFormElement;
}

/** Pick a student, then see and add their records, one section per kind. */
export class StudentRecordsScreen {
  readonly root: HTMLElement;
  private readonly body = h('div', {});
  private readonly lists = new Map<RecordSection, HTMLElement>();
  private readonly picker: StudentPicker;

  constructor(
    private readonly bridge: DeskBridge,
    private readonly fail: (err: unknown) => void,
    test: string,
    title: string,
    private readonly sections: RecordSection[],
  ) {
    this.picker = new StudentPicker(bridge, fail, (student) => this.choose(student));
    this.root = h(
      'section',
      { class: 'screen', 'data-test': `${test}-screen` },
      h('div', { class: 'toolbar' }, h('h1', {}, title), this.picker.root),
      this.body,
    );
    this.choose(null);
  }

  refresh(): void {
    const student = this.picker.student;
    if (student === null) return this.picker.refresh();
    for (const [section, box] of this.lists) {
      this.bridge
        .query(section.query(student.id))
        .then((records) => {
          const rows = records.map((r) =>
            row(
              `${section.test}-row`,
              r,
              ...section.cells(r),
              rowActions(null, () => this.remove(section, r)),
            ),
          );
          box.replaceChildren(table([...section.headers, ''], rows, section.empty));
        })
        .catch(this.fail);
    }
  }

  private choose(student: EntityRecord | null): void {
    this.lists.clear();
    if (student === null) {
      this.body.replaceChildren(h('p', { class: 'empty' }, t('records.findFirst')));
      return;
    }
    this.body.replaceChildren(
      ...this.sections.map((section) => {
        const list = h('div', { class: 'list' });
        this.lists.set(section, list);
        const form: HTMLFormElement = section.form(async (fields) => {
          const result = await this.bridge.create(section.type, { ...fields, studentId: student.id });
          if (!result.ok) return result.issues;
          form.reset();
          this.refresh();
          return [];
        });
        return h(
          'section',
          { class: 'card records', 'data-test': `${section.test}-section` },
          h('h2', {}, t('records.sectionTitle', { title: section.title, name: personName(student) })),
          h('div', { class: 'columns' }, list, form),
        );
      }),
    );
    this.refresh();
  }

  private remove(section: RecordSection, record: EntityRecord): void {
    if (!confirmDelete(section.describe(record))) return;
    this.bridge
      .remove(section.type, record.id)
      .then(() => this.refresh())
      .catch(this.fail);
  }
}
