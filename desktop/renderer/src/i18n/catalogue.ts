import type { en } from './en.ts';

export type MessageKey = keyof typeof en;
/** A text by plural category of its `count` (Intl.PluralRules); `other` is always there. */
export type PluralMessage = Partial<Record<Intl.LDMLPluralRule, string>> & { readonly other: string };
export type Message = string | PluralMessage;
/** One language's texts: every key of the English catalogue, each a text or its plural forms. */
export type Catalogue = { readonly [K in MessageKey]: Message };

export const LANGUAGES = ['fr', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
