import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge } from '../../bridge.ts';
import { CrudScreen } from './crud-screen.ts';
import { display, h } from './dom.ts';
import { blankToNull, check, entityForm, field, str } from './forms.ts';
import { byText, personName } from './lists.ts';

const teacherSchema = entityPayloadSchemas.TEACHER.pick({ firstName: true, lastName: true, email: true });

/** Teachers: search by name, create, edit, delete. */
export function teachersScreen(bridge: DeskBridge, fail: (err: unknown) => void): CrudScreen {
  return new CrudScreen(bridge, fail, {
    type: 'TEACHER',
    test: 'teacher',
    title: 'Teachers',
    newLabel: 'New teacher',
    searchPlaceholder: 'Search by name…',
    headers: ['Last name', 'First name', 'Email'],
    load: async (search) => {
      const teachers = await bridge.list({ type: 'TEACHER', search, limit: 500 });
      return search.trim() === '' ? teachers.sort(byText('lastName')) : teachers;
    },
    cells: (t) => [display(t.lastName), display(t.firstName), display(t.email)],
    describe: (t) => personName(t),
    empty: (search) => (search.trim() === '' ? 'No teachers yet.' : 'No teacher matches this search.'),
    form: (t, save, cancel) =>
      Promise.resolve(
        entityForm({
          test: 'teacher-form',
          title: t === null ? 'New teacher' : 'Edit teacher',
          fields: [
            field('firstName', 'First name', h('input', { name: 'firstName', value: str(t?.firstName) })),
            field('lastName', 'Last name', h('input', { name: 'lastName', value: str(t?.lastName) })),
            field(
              'email',
              'Email (optional)',
              h('input', { name: 'email', type: 'email', value: str(t?.email) }),
            ),
          ],
          validate: (raw) =>
            check(
              teacherSchema,
              { firstName: raw.firstName ?? '', lastName: raw.lastName ?? '', email: blankToNull(raw.email) },
              { email: 'Please enter a valid email address, like name@school.org.' },
            ),
          onSave: save,
          onCancel: cancel,
        }),
      ),
  });
}
