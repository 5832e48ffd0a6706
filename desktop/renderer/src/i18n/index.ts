import type { Catalogue, Language, Message, MessageKey } from './catalogue.ts';
import { LANGUAGES } from './catalogue.ts';
import { en } from './en.ts';
import { fr } from './fr.ts';

export type { Language, MessageKey } from './catalogue.ts';
export { LANGUAGES } from './catalogue.ts';

export const CATALOGUES: Readonly<Record<Language, Catalogue>> = { fr, en };
/** Each language's name written in that language, for the picker. */
export const LANGUAGE_NAMES: Readonly<Record<Language, string>> = { fr: 'Français', en: 'English' };
/** Currencies the school may keep its accounts in; the first of a French-speaking West African locale is XOF. */
export const CURRENCIES = ['XOF', 'EUR', 'XAF', 'MAD', 'USD'] as const;

const LANGUAGE_SETTING = 'desk.language';
const CURRENCY_SETTING = 'desk.currency';
/** Regions whose schools count in CFA francs (UEMOA: XOF; CEMAC: XAF). */
const XOF_REGIONS = new Set(['SN', 'CI', 'ML', 'BF', 'NE', 'TG', 'BJ', 'GW']);
const XAF_REGIONS = new Set(['CM', 'GA', 'CG', 'TD', 'CF', 'GQ']);

/** What this module reads of the page; typed here so that tests in Node (no DOM) can import it. */
interface Host {
  localStorage?: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  navigator?: { language?: string; languages?: readonly string[] };
}
const host = globalThis as unknown as Host;

function stored(key: string): string | null {
  try {
    return host.localStorage?.getItem(key) ?? null;
  } catch {
    // A page without storage (a locked-down profile) keeps the system's choice.
    return null;
  }
}

/** The language of a locale tag, if the desk has it ("fr-SN" → fr). */
export function languageOf(tag: string | undefined): Language | null {
  const base = (tag ?? '').toLowerCase().split(/[-_]/)[0];
  return (LANGUAGES as readonly string[]).includes(base ?? '') ? (base as Language) : null;
}

/** The system's locales: in Electron `navigator.languages` follows app.getLocale(). */
function systemLocales(): readonly string[] {
  const nav = host.navigator;
  return nav?.languages?.length ? nav.languages : [nav?.language ?? 'en'];
}

/** The setting when there is one, else the first system locale the desk speaks, else English. */
export function pickLanguage(setting: string | null, system: readonly string[]): Language {
  const chosen = languageOf(setting ?? undefined);
  if (chosen !== null) return chosen;
  for (const tag of system) {
    const language = languageOf(tag);
    if (language !== null) return language;
  }
  return 'en';
}

/** The locale formats follow: the system's own when it speaks the chosen language (fr-SN, en-GB), else a default. */
export function localeFor(language: Language, system: readonly string[]): string {
  return system.find((tag) => languageOf(tag) === language) ?? (language === 'fr' ? 'fr-FR' : 'en-GB');
}

/** The school's currency: the setting, else the one of the system's region (XOF in Dakar, EUR in Lyon). */
export function pickCurrency(setting: string | null, locale: string): string {
  if (setting !== null && /^[A-Z]{3}$/.test(setting)) return setting;
  let region: string | undefined;
  try {
    region = new Intl.Locale(locale).maximize().region;
  } catch {
    region = undefined;
  }
  if (region !== undefined && XOF_REGIONS.has(region)) return 'XOF';
  return region !== undefined && XAF_REGIONS.has(region) ? 'XAF' : 'EUR';
}

const system = systemLocales();
/** The desk's language for this page; a change is saved and the page reloads (see `setLanguage`). */
export const language: Language = pickLanguage(stored(LANGUAGE_SETTING), system);
export const locale: string = localeFor(language, system);
export const schoolCurrency: string = pickCurrency(stored(CURRENCY_SETTING), locale);
const catalogue: Catalogue = CATALOGUES[language];
const plurals = new Intl.PluralRules(locale);
const numbers = new Intl.NumberFormat(locale);

export type Params = Readonly<Record<string, string | number>>;

function pick(message: Message, count: number | undefined): string {
  if (typeof message === 'string') return message;
  if (count === undefined) return message.other;
  return message[plurals.select(count)] ?? message.other;
}

/** A text of the desk's catalogue with its parameters filled in; numbers are written for the locale. */
export function t(key: MessageKey, params: Params = {}): string {
  const count = typeof params.count === 'number' ? params.count : undefined;
  return pick(catalogue[key] ?? en[key], count).replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params[name];
    if (value === undefined) return whole;
    return typeof value === 'number' ? numbers.format(value) : value;
  });
}

/** A text whose key is built at run time (a field name, an error code); `fallback` when there is none. */
export function tOr(key: string, fallback: string, params: Params = {}): string {
  return Object.hasOwn(catalogue, key) ? t(key as MessageKey, params) : fallback;
}

export function setLanguage(next: Language): void {
  host.localStorage?.setItem(LANGUAGE_SETTING, next);
}

export function setSchoolCurrency(next: string): void {
  host.localStorage?.setItem(CURRENCY_SETTING, next);
}

export function formatNumber(value: number): string {
  return numbers.format(value);
}

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const dayFormat = new Intl.DateTimeFormat(locale, {
  day: '2-digit',
  month: '2-digit',
  year: 'numeric',
  timeZone: 'UTC',
});
const localDayFormat = new Intl.DateTimeFormat(locale, { day: '2-digit', month: '2-digit', year: 'numeric' });
const dateTimeFormat = new Intl.DateTimeFormat(locale, {
  day: '2-digit',
  month: '2-digit',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});
const shortDayFormat = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short' });
const timeFormat = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' });

/** "2014-03-21" → "21/03/2014" (fr) as the calendar day it names, whatever the time zone; a time → its local day. */
export function formatDate(iso: string): string {
  if (ISO_DAY.test(iso)) return dayFormat.format(new Date(`${iso}T00:00:00Z`));
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : localDayFormat.format(date);
}

/** A moment as a date and time of the locale: "21/03/2014 08:15". */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTimeFormat.format(date);
}

/** "21 mars" / "21 Mar". */
export function formatShortDay(iso: string): string {
  return shortDayFormat.format(new Date(iso));
}

/** "21 mars 08:02". */
export function formatShortDayTime(iso: string): string {
  return `${formatShortDay(iso)} ${timeFormat.format(new Date(iso))}`;
}

/**
 * Whole cents of `currency` as the locale writes money: 1 500 000 XOF cents → "15 000 F CFA", 1250 EUR
 * cents → "12,50 €". Cents a currency has no digits for (XOF) are shown rather than rounded away.
 */
export function formatMoney(cents: number, currency: string): string {
  const fraction = cents % 100 === 0 ? {} : { minimumFractionDigits: 2, maximumFractionDigits: 2 };
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency, ...fraction }).format(cents / 100);
  } catch {
    // Not an ISO 4217 code Intl knows: the number and the code as stored.
    return `${formatNumber(cents / 100)} ${currency}`;
  }
}

/** How many decimals a currency's amounts have (XOF: 0, EUR: 2). */
export function currencyDecimals(currency: string): number {
  try {
    return (
      new Intl.NumberFormat(locale, { style: 'currency', currency }).resolvedOptions()
        .maximumFractionDigits ?? 2
    );
  } catch {
    return 2;
  }
}

/** An amount to show as an example in the payment form: "15 000" in XOF, "12,50" in EUR (fr). */
export function amountExample(currency: string): string {
  const decimals = currencyDecimals(currency);
  const value = decimals === 0 ? 15_000 : 12.5;
  return new Intl.NumberFormat(locale, {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  }).format(value);
}
