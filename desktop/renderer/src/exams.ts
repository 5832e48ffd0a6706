import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge } from '../../bridge.ts';
import { CrudScreen } from './crud-screen.ts';
import { display, h } from './dom.ts';
import { check, entityForm, field, str } from './forms.ts';
import { GradesPanel } from './grades.ts';
import { ClassPicker } from './pickers.ts';

const examSchema = entityPayloadSchemas.EXAM.pick({ subject: true, date: true, maxScore: true });

/** Exams of a class (create, edit, delete) and, below, the grades of the exam picked. */
export function examsScreen(bridge: DeskBridge, fail: (err: unknown) => void): CrudScreen {
  const grades = new GradesPanel(bridge, fail);
  const classes = new ClassPicker(bridge, () => {
    grades.show(null);
    screen.refresh();
  });
  const screen = new CrudScreen(
    bridge,
    fail,
    {
      type: 'EXAM',
      test: 'exam',
      title: 'Exams and grades',
      newLabel: 'New exam',
      headers: ['Subject', 'Date', 'Out of', ''],
      load: async () => {
        await classes.reload();
        grades.refresh();
        return classes.value === '' ? [] : bridge.query({ name: 'examsOfClass', classId: classes.value });
      },
      cells: (exam) => [
        display(exam.subject),
        display(exam.date),
        display(exam.maxScore),
        h('td', {}, h('button', { 'data-test': 'open-grades', onclick: () => grades.show(exam) }, 'Grades')),
      ],
      describe: (exam) => `the ${display(exam.subject)} exam of ${display(exam.date)} and its grades`,
      empty: () =>
        classes.value === '' ? 'Choose a class to see its exams.' : 'No exams for this class yet.',
      form: (exam, save, cancel) =>
        Promise.resolve(
          entityForm({
            test: 'exam-form',
            title: exam === null ? 'New exam' : 'Edit exam',
            fields: [
              field('subject', 'Subject', h('input', { name: 'subject', value: str(exam?.subject) })),
              field('date', 'Date', h('input', { name: 'date', type: 'date', value: str(exam?.date) })),
              field(
                'maxScore',
                'Out of (highest score)',
                h('input', { name: 'maxScore', inputmode: 'decimal', value: str(exam?.maxScore ?? 20) }),
              ),
            ],
            validate: (raw) => {
              const max = (raw.maxScore ?? '').trim().replace(',', '.');
              return check(
                examSchema,
                {
                  subject: raw.subject ?? '',
                  date: raw.date ?? '',
                  maxScore: max === '' ? undefined : Number(max),
                },
                { maxScore: 'Please enter a number above 0.' },
              );
            },
            onSave: (values) => {
              const classId = exam === null ? classes.value : String(exam.classId);
              if (classId === '')
                return Promise.resolve([{ field: '(payload)', message: 'Please choose a class first.' }]);
              return save({ ...values, classId });
            },
            onCancel: cancel,
          }),
        ),
    },
    [classes.root],
  );
  screen.below.append(grades.root);
  return screen;
}
