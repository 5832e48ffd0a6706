import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge } from '../../bridge.ts';
import { CrudScreen } from './crud-screen.ts';
import { display, h } from './dom.ts';
import { check, entityForm, field, str } from './forms.ts';
import { GradesPanel } from './grades.ts';
import { ClassPicker } from './pickers.ts';
import { t } from './i18n/index.ts';

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
      title: t('exams.title'),
      newLabel: t('exams.new'),
      headers: [t('field.subject'), t('field.date'), t('exams.outOf'), ''],
      load: async () => {
        await classes.reload();
        grades.refresh();
        return classes.value === '' ? [] : bridge.query({ name: 'examsOfClass', classId: classes.value });
      },
      cells: (exam) => [
        display(exam.subject),
        display(exam.date),
        display(exam.maxScore),
        h(
          'td',
          {},
          h('button', { 'data-test': 'open-grades', onclick: () => grades.show(exam) }, t('exams.grades')),
        ),
      ],
      describe: (exam) => t('exams.describe', { subject: display(exam.subject), date: display(exam.date) }),
      empty: () => (classes.value === '' ? t('exams.chooseClass') : t('exams.none')),
      form: (exam, save, cancel) =>
        Promise.resolve(
          entityForm({
            test: 'exam-form',
            title: exam === null ? t('exams.new') : t('exams.edit'),
            fields: [
              field(
                'subject',
                t('field.subject'),
                h('input', { name: 'subject', value: str(exam?.subject) }),
              ),
              field(
                'date',
                t('field.date'),
                h('input', { name: 'date', type: 'date', value: str(exam?.date) }),
              ),
              field(
                'maxScore',
                t('exams.outOfLabel'),
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
                { maxScore: t('exams.maxScore') },
              );
            },
            onSave: (values) => {
              const classId = exam === null ? classes.value : String(exam.classId);
              if (classId === '')
                return Promise.resolve([{ field: '(payload)', message: t('exams.classFirst') }]);
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
