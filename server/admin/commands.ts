import type { Command } from './command.ts';
import { tenantCreate, tenantList } from './tenant.ts';
import { token } from './token.ts';

/**
 * Every command of sync-admin, in the order `help` lists them. Issue 7's `status`, `publication add|remove`,
 * `slot recreate` and `prune` are added here as further entries, each in its own file.
 */
export const COMMANDS: readonly Command[] = [tenantCreate, tenantList, token];
