import type { z } from 'zod';
import { detailOfIssue } from '../../../shared/refusal-rules.ts';
import type { FieldIssue } from '../../store/index.ts';
import { h } from './dom.ts';
import { t } from './i18n/index.ts';
import { issueWords } from './reasons.ts';

export type Checked<T> = { values: T } | { issues: FieldIssue[] };

/**
 * Checks `input` with a schema built from the shared entity schemas. `messages` replaces every message of a
 * field (e.g. "Please choose a class." for a missing id); other messages say the shared schema's rule in
 * the desk's language (shared/refusal-rules.ts), and a screen's own refinement keeps its message.
 */
export function check<S extends z.ZodType>(
  schema: S,
  input: unknown,
  messages: Record<string, string> = {},
): Checked<z.infer<S>> {
  const result = schema.safeParse(input);
  if (result.success) return { values: result.data };
  return {
    issues: result.error.issues.map((issue) => {
      const field = issue.path.map(String).join('.') || '(payload)';
      const own = messages[field.split('.')[0] ?? ''];
      if (own !== undefined) return { field, message: own };
      const detail = detailOfIssue(issue, input);
      // A refinement of the screen (a custom issue the shared rules do not name) says it in its own words.
      if (issue.code === 'custom' && detail.rule === 'INVALID') return { field, message: issue.message };
      return { field, message: issueWords({ field, message: issue.message, ...detail }) };
    }),
  };
}

/** Blank text is "not given". */
export function blankToNull(value: string | undefined): string | null {
  return value === undefined || value.trim() === '' ? null : value;
}

/** A text a form control can show: strings as they are, numbers written out, anything else empty. */
export function str(value: unknown): string {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? value : '';
}

/** A labelled control with the slot its error message goes into. */
export function field(name: string, label: string, input: HTMLElement): HTMLElement {
  return h(
    'label',
    { class: 'field' },
    h('span', { class: 'label' }, label),
    input,
    h('span', { class: 'field-error', 'data-error-for': name, role: 'alert' }),
  );
}

export interface Choice {
  value: string;
  label: string;
}

/** A drop-down; `empty` adds a first choice with the value "". */
export function select(
  name: string,
  choices: Choice[],
  selected: unknown,
  empty?: string,
): HTMLSelectElement {
  return h(
    'select',
    { name, 'data-test': `select-${name}` },
    empty === undefined ? null : h('option', { value: '' }, empty),
    ...choices.map((c) =>
      h('option', { value: c.value, ...(c.value === selected ? { selected: true } : {}) }, c.label),
    ),
  );
}

/** Shows each issue under its field (unknown fields under the form), and clears the old ones. */
export function showIssues(root: HTMLElement, issues: FieldIssue[]): void {
  for (const el of root.querySelectorAll<HTMLElement>('[data-error-for]')) el.textContent = '';
  for (const el of root.querySelectorAll('.invalid')) el.classList.remove('invalid');
  for (const issue of issues) {
    const top = issue.field.split('.')[0] ?? '(payload)';
    const slot =
      root.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(top)}"]`) ??
      root.querySelector<HTMLElement>('[data-error-for="(payload)"]');
    const message = issueWords(issue);
    if (slot !== null)
      slot.textContent = slot.textContent === '' ? message : `${slot.textContent} ${message}`;
    root.querySelector(`[name="${CSS.escape(top)}"]`)?.classList.add('invalid');
  }
}

/** The form's text values by name; a checkbox counts as "on" or "". */
export function readForm(form: HTMLFormElement): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const [key, value] of new FormData(form)) if (typeof value === 'string') raw[key] = value;
  for (const box of form.querySelectorAll<HTMLInputElement>('input[type=checkbox]'))
    raw[box.name] = box.checked ? 'on' : '';
  return raw;
}

export interface EntityFormOptions<T> {
  /** `data-test` of the form. */
  test: string;
  title: string;
  fields: HTMLElement[];
  validate: (raw: Record<string, string>) => Checked<T>;
  /** Resolves with the issues to show: none when saved. */
  onSave: (values: T) => Promise<FieldIssue[]>;
  onCancel?: () => void;
  saveLabel?: string;
}

/** A form that checks its values locally, then saves; errors appear under the field they concern. */
export function entityForm<T>(options: EntityFormOptions<T>): HTMLFormElement {
  const form = h(
    'form',
    { class: 'card form', 'data-test': options.test, novalidate: true },
    h('h2', {}, options.title),
    ...options.fields,
    h('p', { class: 'field-error', 'data-error-for': '(payload)' }),
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        { type: 'submit', class: 'primary', 'data-test': 'save' },
        options.saveLabel ?? t('common.save'),
      ),
      options.onCancel === undefined
        ? null
        : h('button', { type: 'button', onclick: () => options.onCancel?.() }, t('common.cancel')),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const checked = options.validate(readForm(form));
    if ('issues' in checked) return showIssues(form, checked.issues);
    showIssues(form, []);
    options
      .onSave(checked.values)
      .then((issues) => showIssues(form, issues))
      .catch((err: unknown) => showIssues(form, [{ field: '(payload)', message: String(err) }]));
  });
  return form;
}
