import { ConfigError } from '../../server/config/env.ts';
import { parseSyncRules } from '../../server/config/rules.ts';

/** The problems parseSyncRules reports for `input`, or [] when it is accepted. */
export function problemsOf(input: unknown): string[] {
  try {
    parseSyncRules(input);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}
