import type { DeskBridge } from '../../bridge.ts';
import { CrudScreen } from './crud-screen.ts';
import { display, h } from './dom.ts';
import { byText, personName } from './lists.ts';
import { studentForm } from './student-form.ts';
import { t } from './i18n/index.ts';

/** The students screen: search, list, create, edit, delete. Redraws when the data changes. */
export function studentsScreen(bridge: DeskBridge, fail: (err: unknown) => void): CrudScreen {
  return new CrudScreen(bridge, fail, {
    type: 'STUDENT',
    test: 'student',
    screenTest: 'students-screen',
    title: t('students.title'),
    newLabel: t('students.new'),
    searchPlaceholder: t('common.searchName'),
    headers: [t('field.lastName'), t('field.firstName'), t('field.birthDate'), t('field.notes')],
    load: async (search) =>
      (await bridge.list({ type: 'STUDENT', search, limit: 500 })).sort(byText('lastName')),
    cells: (s) => [
      display(s.lastName),
      display(s.firstName),
      display(s.birthDate),
      h('td', { class: 'notes' }, display(s.notes)),
    ],
    describe: (s) => personName(s),
    empty: (search) => (search === '' ? t('students.none') : t('students.noMatch')),
    form: async (student, save, cancel) =>
      studentForm({
        student,
        classes: await bridge.list({ type: 'CLASS' }),
        onSave: (values) => save({ ...values }),
        onCancel: cancel,
      }),
  });
}
