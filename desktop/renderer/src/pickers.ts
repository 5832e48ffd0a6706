import type { DeskBridge, EntityRecord } from '../../bridge.ts';
import { h } from './dom.ts';
import { str } from './forms.ts';
import { byText, personName } from './lists.ts';
import { t } from './i18n/index.ts';

/**
 * A drop-down of every class ("3B · 2025-2026"), newest school year first. `onChange` gets the chosen id
 * ('' for none). `reload` refreshes the choices and keeps the current one.
 */
export class ClassPicker {
  readonly root = h('select', { 'data-test': 'pick-class', 'aria-label': t('picker.class') });

  constructor(
    private readonly bridge: DeskBridge,
    onChange: (classId: string) => void,
  ) {
    this.root.addEventListener('change', () => onChange(this.root.value));
  }

  get value(): string {
    return this.root.value;
  }

  async reload(): Promise<void> {
    const [classes, years] = await Promise.all([
      this.bridge.list({ type: 'CLASS', limit: 5_000 }),
      this.bridge.list({ type: 'ACADEMIC_YEAR' }),
    ]);
    const year = new Map(years.map((y) => [y.id, y]));
    const startOf = (c: EntityRecord): string => str(year.get(str(c.academicYearId))?.startDate);
    classes.sort((a, b) => startOf(b).localeCompare(startOf(a)) || byText('name')(a, b));
    const chosen = this.root.value;
    this.root.replaceChildren(
      h('option', { value: '' }, t('picker.chooseClass')),
      ...classes.map((c) => {
        const label = `${str(c.name)} · ${str(year.get(str(c.academicYearId))?.label)}`;
        return h('option', { value: c.id, ...(c.id === chosen ? { selected: true } : {}) }, label);
      }),
    );
  }
}

/**
 * Finds a student by name: a search box and the matching students as buttons. `onChange` gets the chosen
 * student (null when the search changes).
 */
export class StudentPicker {
  readonly root = h('div', { class: 'picker' });
  private readonly input = h('input', {
    type: 'search',
    placeholder: t('picker.findStudent'),
    'data-test': 'pick-student-search',
  });
  private readonly matches = h('div', { class: 'matches' });
  private chosen: EntityRecord | null = null;

  constructor(
    private readonly bridge: DeskBridge,
    private readonly fail: (err: unknown) => void,
    private readonly onChange: (student: EntityRecord | null) => void,
  ) {
    this.input.addEventListener('input', () => this.search());
    this.root.append(this.input, this.matches);
  }

  get student(): EntityRecord | null {
    return this.chosen;
  }

  /**
   * Lists the matches of what is typed again, keeping the typing: students the desk received after she
   * typed (a catch-up, or a resync that downloads the students again) appear without typing it again.
   */
  refresh(): void {
    if (this.chosen === null) this.search();
  }

  private search(): void {
    const text = this.input.value;
    if (text.trim() === '') {
      this.matches.replaceChildren();
      return;
    }
    this.bridge
      .list({ type: 'STUDENT', search: text, limit: 12 })
      .then((students) => {
        if (text !== this.input.value) return;
        this.matches.replaceChildren(
          ...(students.length === 0
            ? [h('span', { class: 'empty' }, t('picker.noMatch'))]
            : students.map((s) =>
                h(
                  'button',
                  { 'data-test': 'pick-student', 'data-id': s.id, onclick: () => this.choose(s) },
                  personName(s),
                ),
              )),
        );
      })
      .catch(this.fail);
  }

  private choose(student: EntityRecord): void {
    this.chosen = student;
    this.input.value = personName(student);
    this.matches.replaceChildren();
    this.onChange(student);
  }
}
