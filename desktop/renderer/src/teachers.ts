import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge } from '../../bridge.ts';
import { CrudScreen } from './crud-screen.ts';
import { display, h } from './dom.ts';
import { blankToNull, check, entityForm, field, str } from './forms.ts';
import { byText, personName } from './lists.ts';
import { t } from './i18n/index.ts';

const teacherSchema = entityPayloadSchemas.TEACHER.pick({ firstName: true, lastName: true, email: true });

/** Teachers: search by name, create, edit, delete. */
export function teachersScreen(bridge: DeskBridge, fail: (err: unknown) => void): CrudScreen {
  return new CrudScreen(bridge, fail, {
    type: 'TEACHER',
    test: 'teacher',
    title: t('teachers.title'),
    newLabel: t('teachers.new'),
    searchPlaceholder: t('common.searchName'),
    headers: [t('field.lastName'), t('field.firstName'), t('field.email')],
    load: async (search) => {
      const teachers = await bridge.list({ type: 'TEACHER', search, limit: 500 });
      return search.trim() === '' ? teachers.sort(byText('lastName')) : teachers;
    },
    cells: (teacher) => [display(teacher.lastName), display(teacher.firstName), display(teacher.email)],
    describe: (teacher) => personName(teacher),
    empty: (search) => (search.trim() === '' ? t('teachers.none') : t('teachers.noMatch')),
    form: (teacher, save, cancel) =>
      Promise.resolve(
        entityForm({
          test: 'teacher-form',
          title: teacher === null ? t('teachers.new') : t('teachers.edit'),
          fields: [
            field(
              'firstName',
              t('field.firstName'),
              h('input', { name: 'firstName', value: str(teacher?.firstName) }),
            ),
            field(
              'lastName',
              t('field.lastName'),
              h('input', { name: 'lastName', value: str(teacher?.lastName) }),
            ),
            field(
              'email',
              t('teachers.email'),
              h('input', { name: 'email', type: 'email', value: str(teacher?.email) }),
            ),
          ],
          validate: (raw) =>
            check(
              teacherSchema,
              { firstName: raw.firstName ?? '', lastName: raw.lastName ?? '', email: blankToNull(raw.email) },
              { email: t('check.EMAIL') },
            ),
          onSave: save,
          onCancel: cancel,
        }),
      ),
  });
}
