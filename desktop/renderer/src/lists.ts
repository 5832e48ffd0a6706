import type { EntityRecord } from '../../bridge.ts';
import { h } from './dom.ts';
import { locale, t } from './i18n/index.ts';

/** A table with a header row, or a sentence when there is nothing to show. */
export function table(headers: string[], rows: HTMLTableRowElement[], empty: string): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, ...headers.map((label) => h('th', {}, label)))),
    h('tbody', {}, ...rows),
  );
}

/** A row of plain cells with `data-test` and the entity's id. */
export function row(
  test: string,
  entity: EntityRecord,
  ...cells: (string | HTMLElement)[]
): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-test': test, 'data-id': entity.id },
    ...cells.map((cell) => (typeof cell === 'string' ? h('td', {}, cell) : cell)),
  );
}

/** The Edit / Delete buttons at the end of a row (either may be left out). */
export function rowActions(onEdit: (() => void) | null, onDelete: (() => void) | null): HTMLElement {
  return h(
    'td',
    { class: 'row-actions' },
    onEdit === null ? null : h('button', { 'data-test': 'edit', onclick: onEdit }, t('common.edit')),
    onDelete === null
      ? null
      : h('button', { class: 'danger', 'data-test': 'delete', onclick: onDelete }, t('common.delete')),
  );
}

/** Asks before deleting; the question names what goes. */
export function confirmDelete(what: string): boolean {
  return window.confirm(t('common.confirmDelete', { what }));
}

const collator = new Intl.Collator(locale);

/** Sorts by one text field, then by id so the order never jumps. */
export function byText(field: string): (a: EntityRecord, b: EntityRecord) => number {
  const text = (e: EntityRecord): string => {
    const value = e[field];
    return typeof value === 'string' ? value : '';
  };
  return (a, b) => collator.compare(text(a), text(b)) || a.id.localeCompare(b.id);
}

/** "Diallo Awa", as a list of people reads. */
export function personName(person: EntityRecord | undefined): string {
  if (person === undefined) return '—';
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return `${text(person.lastName)} ${text(person.firstName)}`.trim();
}
