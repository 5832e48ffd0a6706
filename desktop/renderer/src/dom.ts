import { formatDate, formatDateTime, formatNumber, t, tOr } from './i18n/index.ts';

type Child = Node | string | null | false;
type Attrs = Record<string, string | boolean | ((event: Event) => void)>;

/** Builds an element: `on*` attributes become listeners, `true` sets a bare attribute, `false` omits it. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else if (value !== false) el.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== false) el.append(child);
  }
  return el;
}

/** "birthDate" → "Birth date" ("Date de naissance"): the catalogue's name, else the words of the name. */
export function labelOf(field: string): string {
  return tOr(`field.${field}`, wordsOf(field));
}

function wordsOf(field: string): string {
  const words = field
    .replace(/Id$/, '')
    .replace(/([A-Z])/g, ' $1')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A value as a secretary reads it. */
export function display(value: unknown): string {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'boolean') return value ? t('common.yes') : t('common.no');
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string') return /^\d{4}-\d{2}-\d{2}$/.test(value) ? formatDate(value) : value;
  return JSON.stringify(value);
}

export function timeOf(iso: string | null): string {
  return iso === null ? t('status.never') : formatDateTime(iso);
}
