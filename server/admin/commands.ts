import type { Command } from './command.ts';
import { deskList, deskRevoke } from './desk.ts';
import { history } from './history.ts';
import { prune } from './prune.ts';
import { publicationAdd, publicationRemove } from './publication.ts';
import { slotRecreate } from './slot.ts';
import { status } from './status.ts';
import { tenantCreate, tenantList } from './tenant.ts';
import { token } from './token.ts';

/** Every command of sync-admin, in the order `help` lists them. Adding a command is adding an entry. */
export const COMMANDS: readonly Command[] = [
  status,
  tenantCreate,
  tenantList,
  token,
  deskList,
  deskRevoke,
  publicationAdd,
  publicationRemove,
  slotRecreate,
  prune,
  history,
];
