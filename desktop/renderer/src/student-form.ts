import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { FieldIssue } from '../../store/index.ts';
import type { EntityRecord } from '../../bridge.ts';
import { h } from './dom.ts';
import { blankToNull, check, entityForm, field, select, str, type Checked } from './forms.ts';
import { t } from './i18n/index.ts';

/** The fields this form edits, validated with the same schema the server and the store use. */
const formSchema = entityPayloadSchemas.STUDENT.pick({
  firstName: true,
  lastName: true,
  birthDate: true,
  classId: true,
  notes: true,
});

export interface StudentFormValues {
  firstName: string;
  lastName: string;
  birthDate: string | null;
  classId: string | null;
  notes: string | null;
}

/** Checks the form's values; empty optional fields become null. Issues name the field they belong to. */
export function validateStudent(raw: Record<string, string>): Checked<StudentFormValues> {
  const input = {
    firstName: raw.firstName ?? '',
    lastName: raw.lastName ?? '',
    birthDate: blankToNull(raw.birthDate),
    classId: blankToNull(raw.classId),
    notes: blankToNull(raw.notes),
  };
  const checked = check(formSchema, input);
  if ('issues' in checked) return checked;
  return {
    values: { ...input, firstName: checked.values.firstName, lastName: checked.values.lastName },
  };
}

export interface StudentFormOptions {
  student: EntityRecord | null;
  classes: EntityRecord[];
  onSave: (values: StudentFormValues) => Promise<FieldIssue[]>;
  onCancel: () => void;
}

/** Create or edit one student; errors appear under the field they concern. */
export function studentForm(options: StudentFormOptions): HTMLFormElement {
  const s = options.student;
  const classes = options.classes.map((c) => ({ value: c.id, label: str(c.name) }));
  return entityForm({
    test: 'student-form',
    title: s === null ? t('students.new') : t('students.edit'),
    fields: [
      field(
        'firstName',
        t('field.firstName'),
        h('input', { name: 'firstName', value: str(s?.firstName), autocomplete: 'off' }),
      ),
      field(
        'lastName',
        t('field.lastName'),
        h('input', { name: 'lastName', value: str(s?.lastName), autocomplete: 'off' }),
      ),
      field(
        'birthDate',
        t('field.birthDate'),
        h('input', { name: 'birthDate', type: 'date', value: str(s?.birthDate) }),
      ),
      field('classId', t('field.classId'), select('classId', classes, s?.classId, t('students.noClass'))),
      field('notes', t('field.notes'), h('textarea', { name: 'notes', rows: '3' }, str(s?.notes))),
    ],
    validate: validateStudent,
    onSave: options.onSave,
    onCancel: options.onCancel,
  });
}
