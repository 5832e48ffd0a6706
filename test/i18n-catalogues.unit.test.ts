import { describe, expect, it } from 'vitest';
import type { Message } from '../desktop/renderer/src/i18n/catalogue.ts';
import {
  CATALOGUES,
  LANGUAGES,
  localeFor,
  pickCurrency,
  pickLanguage,
} from '../desktop/renderer/src/i18n/index.ts';
import { REFUSAL_RULES } from '../shared/refusal-rules.ts';

const forms = (message: Message): string[] =>
  typeof message === 'string' ? [message] : Object.values(message).filter((v) => v !== undefined);
const paramsOf = (message: Message): string[] =>
  [...new Set(forms(message).flatMap((text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '')))]
    .filter((name) => name !== 'count')
    .sort();

describe("the desk's language catalogues", () => {
  it('every catalogue has every key of every other one, with the same parameters', () => {
    for (const a of LANGUAGES) {
      for (const b of LANGUAGES) {
        const missing = Object.keys(CATALOGUES[a]).filter((key) => !Object.hasOwn(CATALOGUES[b], key));
        expect(missing, `keys of ${a} missing from ${b}`).toEqual([]);
      }
    }
    const [first, ...others] = LANGUAGES;
    for (const [key, message] of Object.entries(CATALOGUES[first])) {
      for (const other of others) {
        const theirs = (CATALOGUES[other] as Record<string, Message>)[key];
        expect(theirs === undefined ? [] : paramsOf(theirs), `parameters of ${key} in ${other}`).toEqual(
          paramsOf(message),
        );
      }
    }
  });

  it("plural entries have an 'other' form and no empty text", () => {
    for (const language of LANGUAGES) {
      for (const [key, message] of Object.entries(CATALOGUES[language])) {
        if (typeof message !== 'string') expect(message.other, `${language} ${key}`).toBeTruthy();
        for (const text of forms(message)) expect(text.trim(), `${language} ${key}`).not.toBe('');
      }
    }
  });

  it('every refusal rule of the shared registry has its words, as a refusal and as a form message', () => {
    for (const language of LANGUAGES) {
      const keys = Object.keys(CATALOGUES[language]);
      for (const rule of REFUSAL_RULES)
        expect(keys, `${language} refusal.${rule}`).toContain(`refusal.${rule}`);
      for (const rule of ['REQUIRED', 'MIN', 'MAX', 'ABOVE', 'INTEGER', 'NUMBER', 'DATE', 'EMAIL', 'CHOICE'])
        expect(keys, `${language} check.${rule}`).toContain(`check.${rule}`);
    }
  });

  it('the language: the setting, else the first system locale the desk speaks, else English', () => {
    expect(pickLanguage(null, ['fr-SN', 'en-US'])).toBe('fr');
    expect(pickLanguage(null, ['de-DE', 'en-GB'])).toBe('en');
    expect(pickLanguage(null, ['wo-SN'])).toBe('en');
    expect(pickLanguage('en', ['fr-FR'])).toBe('en');
    expect(pickLanguage('xx', ['fr-FR'])).toBe('fr');
    expect(localeFor('fr', ['fr-SN'])).toBe('fr-SN');
    expect(localeFor('fr', ['en-US'])).toBe('fr-FR');
  });

  it("the school's currency: the setting, else the region's (XOF in Dakar, EUR in Lyon)", () => {
    expect(pickCurrency(null, 'fr-SN')).toBe('XOF');
    expect(pickCurrency(null, 'fr-CI')).toBe('XOF');
    expect(pickCurrency(null, 'fr-CM')).toBe('XAF');
    expect(pickCurrency(null, 'fr-FR')).toBe('EUR');
    expect(pickCurrency('XOF', 'fr-FR')).toBe('XOF');
  });

  it('French plural rules and formats come from Intl', () => {
    const plural = new Intl.PluralRules('fr-FR');
    expect([plural.select(0), plural.select(1), plural.select(3)]).toEqual(['one', 'one', 'other']);
    expect(new Intl.NumberFormat('fr-FR', { style: 'currency', currency: 'XOF' }).format(15_000)).toMatch(
      /^15\s000\sF\sCFA$/,
    );
  });
});
