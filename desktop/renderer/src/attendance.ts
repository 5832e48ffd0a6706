import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge, EntityRecord } from '../../bridge.ts';
import { h } from './dom.ts';
import { showIssues } from './forms.ts';
import { personName, table } from './lists.ts';
import { ClassPicker } from './pickers.ts';
import { formatDate, t } from './i18n/index.ts';
import { issueWords } from './reasons.ts';

type Status = 'PRESENT' | 'LATE' | 'ABSENT';
const STATUSES: { value: Status; label: string }[] = [
  { value: 'PRESENT', label: t('attendance.PRESENT') },
  { value: 'LATE', label: t('attendance.LATE') },
  { value: 'ABSENT', label: t('attendance.ABSENT') },
];
const daySchema = entityPayloadSchemas.ATTENDANCE.pick({ date: true });

/**
 * The roll call of a class for one day: one row per student with Present / Late / Absent. Students with no
 * mark yet start as Present; "Save attendance" writes every row that differs from what is stored.
 */
export class AttendanceScreen {
  readonly root: HTMLElement;
  private readonly classes: ClassPicker;
  private readonly day = h('input', {
    type: 'date',
    'data-test': 'attendance-date',
    'aria-label': t('attendance.day'),
  });
  private readonly body = h('div', { class: 'card attendance' });
  /** Choices made and not saved yet, by student: a redraw keeps them. */
  private readonly chosen = new Map<string, Status>();

  constructor(
    private readonly bridge: DeskBridge,
    private readonly fail: (err: unknown) => void,
  ) {
    this.day.value = new Date().toLocaleDateString('en-CA');
    this.classes = new ClassPicker(bridge, () => this.restart());
    this.day.addEventListener('change', () => this.restart());
    this.root = h(
      'section',
      { class: 'screen', 'data-test': 'attendance-screen' },
      h('div', { class: 'toolbar' }, h('h1', {}, t('attendance.title')), this.classes.root, this.day),
      this.body,
    );
  }

  private restart(): void {
    this.chosen.clear();
    this.refresh();
  }

  refresh(): void {
    this.load().catch(this.fail);
  }

  private async load(): Promise<void> {
    await this.classes.reload();
    const classId = this.classes.value;
    const date = this.day.value;
    if (classId === '' || !daySchema.safeParse({ date }).success) {
      this.body.replaceChildren(h('p', { class: 'empty' }, t('attendance.chooseClassDay')));
      return;
    }
    const [students, marks] = await Promise.all([
      this.bridge.query({ name: 'studentsOfClass', classId }),
      this.bridge.query({ name: 'attendanceOfClass', classId, date }),
    ]);
    if (classId !== this.classes.value || date !== this.day.value) return;
    const markOf = new Map(marks.map((m) => [String(m.studentId), m]));
    const rows = students.map((student) => this.row(student, markOf.get(student.id)));
    const message = h('p', { class: 'field-error', 'data-error-for': '(payload)' });
    this.body.replaceChildren(
      h('h2', {}, t('attendance.on', { date: formatDate(date) })),
      table([t('attendance.student'), t('attendance.mark'), ''], rows, t('attendance.noStudents')),
      message,
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          {
            class: 'primary',
            'data-test': 'save-attendance',
            onclick: () => void this.save(classId, date, students, markOf, message),
          },
          t('attendance.save'),
        ),
      ),
    );
  }

  private row(student: EntityRecord, mark: EntityRecord | undefined): HTMLTableRowElement {
    const current = this.chosen.get(student.id) ?? (mark?.status as Status | undefined) ?? 'PRESENT';
    const name = `status-${student.id}`;
    return h(
      'tr',
      { 'data-test': 'attendance-row', 'data-id': student.id },
      h('td', {}, personName(student)),
      h(
        'td',
        {},
        h(
          'div',
          { class: 'choices' },
          ...STATUSES.map((s) => {
            const radio = h('input', {
              type: 'radio',
              name,
              value: s.value,
              'data-test': `mark-${s.value.toLowerCase()}`,
              ...(s.value === current ? { checked: true } : {}),
            });
            radio.addEventListener('change', () => this.chosen.set(student.id, s.value));
            return h('label', {}, radio, ` ${s.label}`);
          }),
        ),
      ),
      h('td', { class: 'note' }, mark === undefined ? t('attendance.notSaved') : ''),
    );
  }

  private async save(
    classId: string,
    date: string,
    students: EntityRecord[],
    markOf: Map<string, EntityRecord>,
    message: HTMLElement,
  ): Promise<void> {
    try {
      for (const student of students) {
        const mark = markOf.get(student.id);
        const status = this.chosen.get(student.id) ?? (mark?.status as Status | undefined) ?? 'PRESENT';
        const result =
          mark === undefined
            ? await this.bridge.create('ATTENDANCE', { studentId: student.id, classId, date, status })
            : mark.status === status
              ? null
              : await this.bridge.update('ATTENDANCE', mark.id, { status });
        if (result !== null && !result.ok) {
          showIssues(this.body, [
            {
              field: '(payload)',
              message: `${personName(student)}: ${result.issues[0] === undefined ? '' : issueWords(result.issues[0])}`,
            },
          ]);
          return;
        }
        this.chosen.delete(student.id);
      }
      message.textContent = '';
      this.refresh();
    } catch (err) {
      this.fail(err);
    }
  }
}
