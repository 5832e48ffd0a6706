import { userInfo } from 'node:os';

/** Who runs the command, for the records it writes (who signed or revoked a desk token): the login name. */
export function operatorName(): string {
  try {
    const name = userInfo().username;
    if (name !== '') return name;
  } catch {
    // No entry in the user database (a container's arbitrary uid): named by the uid instead.
  }
  return `uid ${process.getuid?.() ?? 'unknown'}`;
}
