import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { FieldIssue } from '../../store/index.ts';
import type { EntityRecord } from '../../bridge.ts';
import { h } from './dom.ts';

/** The fields this form edits, validated with the same schema the server and the store use. */
const formSchema = entityPayloadSchemas.STUDENT.pick({
  firstName: true,
  lastName: true,
  birthDate: true,
  classId: true,
  notes: true,
});

const FRIENDLY: Record<string, string> = {
  too_small: 'Please fill this in.',
  too_big: 'This is too long.',
  invalid_format: 'Please enter a valid date (day, month and year).',
};

export interface StudentFormValues {
  firstName: string;
  lastName: string;
  birthDate: string | null;
  classId: string | null;
  notes: string | null;
}

/** Checks the form's values; empty optional fields become null. Issues name the field they belong to. */
export function validateStudent(
  raw: Record<string, string>,
): { values: StudentFormValues } | { issues: FieldIssue[] } {
  const blankToNull = (v: string | undefined): string | null =>
    v === undefined || v.trim() === '' ? null : v;
  const input = {
    firstName: raw.firstName ?? '',
    lastName: raw.lastName ?? '',
    birthDate: blankToNull(raw.birthDate),
    classId: blankToNull(raw.classId),
    notes: blankToNull(raw.notes),
  };
  const result = formSchema.safeParse(input, {
    error: (issue) => FRIENDLY[issue.code] ?? undefined,
  });
  if (result.success)
    return { values: { ...input, firstName: result.data.firstName, lastName: result.data.lastName } };
  return {
    issues: result.error.issues.map((issue) => ({
      field: issue.path.map(String).join('.') || '(payload)',
      message: issue.message,
    })),
  };
}

export interface StudentFormOptions {
  student: EntityRecord | null;
  classes: EntityRecord[];
  onSave: (values: StudentFormValues) => Promise<FieldIssue[]>;
  onCancel: () => void;
}

function field(name: string, label: string, input: HTMLElement): HTMLElement {
  return h(
    'label',
    { class: 'field' },
    h('span', { class: 'label' }, label),
    input,
    h('span', { class: 'field-error', 'data-error-for': name, role: 'alert' }),
  );
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Create or edit one student; errors appear under the field they concern. */
export function studentForm(options: StudentFormOptions): HTMLFormElement {
  const s = options.student;
  const classSelect = h(
    'select',
    { name: 'classId' },
    h('option', { value: '' }, 'No class'),
    ...options.classes.map((c) =>
      h('option', { value: c.id, ...(c.id === s?.classId ? { selected: true } : {}) }, str(c.name)),
    ),
  );
  const form = h(
    'form',
    { class: 'card form', 'data-test': 'student-form', novalidate: true },
    h('h2', {}, s === null ? 'New student' : 'Edit student'),
    field(
      'firstName',
      'First name',
      h('input', { name: 'firstName', value: str(s?.firstName), autocomplete: 'off' }),
    ),
    field(
      'lastName',
      'Last name',
      h('input', { name: 'lastName', value: str(s?.lastName), autocomplete: 'off' }),
    ),
    field(
      'birthDate',
      'Birth date',
      h('input', { name: 'birthDate', type: 'date', value: str(s?.birthDate) }),
    ),
    field('classId', 'Class', classSelect),
    field('notes', 'Notes', h('textarea', { name: 'notes', rows: '3' }, str(s?.notes))),
    h('p', { class: 'field-error', 'data-error-for': '(payload)' }),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', 'data-test': 'save' }, 'Save'),
      h('button', { type: 'button', onclick: () => options.onCancel() }, 'Cancel'),
    ),
  );
  const showIssues = (issues: FieldIssue[]): void => {
    for (const el of form.querySelectorAll<HTMLElement>('[data-error-for]')) el.textContent = '';
    for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
    for (const issue of issues) {
      const top = issue.field.split('.')[0] ?? '(payload)';
      const slot =
        form.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(top)}"]`) ??
        form.querySelector<HTMLElement>('[data-error-for="(payload)"]');
      if (slot !== null)
        slot.textContent = slot.textContent === '' ? issue.message : `${slot.textContent} ${issue.message}`;
      form.querySelector(`[name="${CSS.escape(top)}"]`)?.classList.add('invalid');
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const raw: Record<string, string> = {};
    for (const [key, value] of new FormData(form)) if (typeof value === 'string') raw[key] = value;
    const checked = validateStudent(raw);
    if ('issues' in checked) return showIssues(checked.issues);
    showIssues([]);
    options
      .onSave(checked.values)
      .then(showIssues)
      .catch((err: unknown) => showIssues([{ field: '(payload)', message: String(err) }]));
  });
  return form;
}
