import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge, EntityRecord, Refusal } from '../../bridge.ts';
import type { FieldIssue } from '../../store/index.ts';
import { display, h } from './dom.ts';
import { check, showIssues, type Checked } from './forms.ts';
import { historyPanel } from './history-panel.ts';
import { personName, table } from './lists.ts';
import { formatNumber, t } from './i18n/index.ts';
import { refusalWords } from './reasons.ts';

/** The score of one grade: the shared GRADE schema, plus the exam's own bounds. */
export function validateScore(raw: string, maxScore: number): Checked<{ score: number }> {
  const text = raw.trim().replace(',', '.');
  const schema = entityPayloadSchemas.GRADE.pick({ score: true }).refine(
    (g) => g.score >= 0 && g.score <= maxScore,
    { path: ['score'], message: t('grades.between', { max: maxScore }) },
  );
  return check(schema, { score: text === '' ? undefined : Number(text) });
}

/** The server's reason without its field (the row is the score), for a secretary. */
function reasonText(refusal: Refusal): string {
  return t('refusal.grade', { reason: refusalWords(refusal, false) });
}

/**
 * The refusal a row shows: of the stored grade's score; or, where the desk holds no grade (a refused new grade
 * is dropped once the desk compares checksums with the server), of a new grade for this student in this exam,
 * so the secretary still sees what she typed and why it was refused until she corrects or dismisses it.
 */
function refusedScore(
  refusals: Refusal[],
  exam: EntityRecord,
  student: EntityRecord,
  grade: EntityRecord | undefined,
): Refusal | undefined {
  return refusals
    .filter((r) =>
      grade === undefined
        ? r.operation === 'CREATE' && r.payload.examId === exam.id && r.payload.studentId === student.id
        : r.entityId === grade.id && r.payload.score === grade.score,
    )
    .at(-1);
}

/**
 * The grades of one exam: one row per student of the exam's class, each with a score to enter or change and
 * its own Save. A score the server refused shows its reason in the row.
 */
export class GradesPanel {
  readonly root = h('section', { class: 'card grades', 'data-test': 'grades' });
  private exam: EntityRecord | null = null;
  /** Scores typed and not saved yet, by student: a redraw keeps them. */
  private readonly typed = new Map<string, string>();
  /** Messages of a score the form refused, by student: a redraw keeps them too. */
  private readonly problems = new Map<string, FieldIssue[]>();
  /** The stored grade each typed score was based on: when it changes (saved elsewhere), the typing goes. */
  private readonly basis = new Map<string, string>();
  /** The History panel of one grade, kept across redraws until another exam is shown. */
  private history: HTMLElement | null = null;

  constructor(
    private readonly bridge: DeskBridge,
    private readonly fail: (err: unknown) => void,
  ) {
    this.root.hidden = true;
  }

  show(exam: EntityRecord | null): void {
    if (exam?.id !== this.exam?.id) {
      this.history = null;
      this.typed.clear();
      this.problems.clear();
      this.basis.clear();
    }
    this.exam = exam;
    this.refresh();
  }

  refresh(): void {
    const exam = this.exam;
    if (exam === null) {
      this.root.hidden = true;
      return;
    }
    Promise.all([
      this.bridge.get('EXAM', exam.id),
      this.bridge.query({ name: 'studentsOfClass', classId: String(exam.classId) }),
      this.bridge.query({ name: 'gradesOfExam', examId: exam.id }),
      this.bridge.refusals('GRADE'),
    ])
      .then(([fresh, students, grades, refusals]) => {
        // Gone: deleted, or for a moment while the desk downloads the exams again (a resync takes a type's
        // rows away and brings them back). Hidden until it is back, with what was typed kept.
        this.root.hidden = fresh === null;
        if (fresh === null) return;
        this.exam = fresh;
        this.draw(fresh, students, grades, refusals);
      })
      .catch(this.fail);
  }

  private draw(
    exam: EntityRecord,
    students: EntityRecord[],
    grades: EntityRecord[],
    refusals: Refusal[],
  ): void {
    const maxScore = Number(exam.maxScore);
    const gradeOf = new Map(grades.map((g) => [String(g.studentId), g]));
    const rows = students.map((student) => {
      const grade = gradeOf.get(student.id);
      const stored = grade === undefined ? '' : `${grade.id}:${String(grade.score)}`;
      if ((this.basis.get(student.id) ?? stored) !== stored) this.forget(student.id);
      const refused = refusedScore(refusals, exam, student, grade);
      const shown = grade?.score ?? refused?.payload.score;
      const input = h('input', {
        name: 'score',
        inputmode: 'decimal',
        'data-test': 'score-input',
        value: this.typed.get(student.id) ?? (typeof shown === 'number' ? String(shown) : ''),
      });
      input.addEventListener('input', () => {
        this.typed.set(student.id, input.value);
        this.basis.set(student.id, stored);
      });
      const cell = h(
        'td',
        { class: 'score' },
        input,
        h('span', { class: 'out-of' }, ` / ${formatNumber(maxScore)}`),
        h('span', { class: 'field-error', 'data-error-for': 'score', role: 'alert' }),
      );
      const tr = h(
        'tr',
        { 'data-test': 'grade-row', 'data-id': student.id },
        h('td', {}, personName(student)),
        cell,
        h(
          'td',
          { class: 'row-actions' },
          h(
            'button',
            { 'data-test': 'save-grade', onclick: () => void this.save(exam, student, grade, input, tr) },
            t('common.save'),
          ),
          grade === undefined
            ? null
            : h(
                'button',
                { 'data-test': 'grade-history', onclick: () => this.showHistory(grade, student) },
                t('grades.history'),
              ),
        ),
      );
      const problems = this.problems.get(student.id);
      if (problems !== undefined) showIssues(tr, problems);
      else if (refused !== undefined) showIssues(tr, [{ field: 'score', message: reasonText(refused) }]);
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') void this.save(exam, student, grade, input, tr);
      });
      return tr;
    });
    this.root.replaceChildren(
      h(
        'h2',
        {},
        t('grades.title', { subject: display(exam.subject), date: display(exam.date), max: maxScore }),
      ),
      table([t('grades.student'), t('grades.score'), ''], rows, t('grades.noStudents')),
      ...(this.history === null ? [] : [this.history]),
    );
  }

  private showHistory(grade: EntityRecord, student: EntityRecord): void {
    this.history = historyPanel(this.bridge, 'GRADE', grade.id, {
      open: true,
      title: t('grades.historyOf', { name: personName(student) }),
    });
    this.refresh();
  }

  private forget(studentId: string): void {
    this.typed.delete(studentId);
    this.problems.delete(studentId);
    this.basis.delete(studentId);
  }

  private async save(
    exam: EntityRecord,
    student: EntityRecord,
    grade: EntityRecord | undefined,
    input: HTMLInputElement,
    tr: HTMLElement,
  ): Promise<void> {
    const checked = validateScore(input.value, Number(exam.maxScore));
    const refuse = (issues: FieldIssue[]): void => {
      this.problems.set(student.id, issues);
      showIssues(tr, issues);
    };
    if ('issues' in checked) return refuse(checked.issues);
    try {
      const result =
        grade === undefined
          ? await this.bridge.create('GRADE', {
              examId: exam.id,
              studentId: student.id,
              score: checked.values.score,
            })
          : await this.bridge.update('GRADE', grade.id, { score: checked.values.score });
      if (!result.ok) return refuse(result.issues);
      this.forget(student.id);
      showIssues(tr, []);
      tr.classList.add('saved');
      this.refresh();
    } catch (err) {
      this.fail(err);
    }
  }
}
