import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { uuidSchema } from '../../shared/entities.ts';

/** What the first run asks for and keeps: the token only ever on disk encrypted by the OS keychain. */
export const deskConfigFileSchema = z.object({
  serverUrl: z.url({ protocol: /^https?$/ }),
  tenantId: uuidSchema,
  /** `safeStorage.encryptString(token)`, base64. */
  encryptedToken: z.string().min(1),
});
export type DeskConfigFile = z.infer<typeof deskConfigFileSchema>;

export interface DeskSettings {
  serverUrl: string;
  tenantId: string;
  token: string;
}

/** The part of Electron's safeStorage the config needs (kept narrow so this file stays testable in Node). */
export interface SecretBox {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
}

export class DeskConfigError extends Error {
  constructor(
    readonly code: 'INVALID_SETTINGS' | 'NO_SECURE_STORAGE',
    message: string,
  ) {
    super(message);
    this.name = 'DeskConfigError';
  }
}

/** The tenant a desk token is for (its `tenantId` claim); the server checks the signature, not the desk. */
export function tenantOfToken(token: string): string {
  const payload = token.split('.')[1];
  if (payload === undefined) throw new DeskConfigError('INVALID_SETTINGS', 'This is not a desk token.');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new DeskConfigError('INVALID_SETTINGS', 'This is not a desk token.');
  }
  const parsed = z.object({ tenantId: uuidSchema }).safeParse(claims);
  if (!parsed.success) throw new DeskConfigError('INVALID_SETTINGS', 'This token names no school.');
  return parsed.data.tenantId;
}

export function readSettings(path: string, box: SecretBox): DeskSettings | null {
  if (!existsSync(path)) return null;
  const file = deskConfigFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!file.success) return null;
  const token = box.decryptString(Buffer.from(file.data.encryptedToken, 'base64'));
  return { serverUrl: file.data.serverUrl, tenantId: file.data.tenantId, token };
}

/** Checks what the user typed and stores it; refuses to store a token in clear text. */
export function saveSettings(path: string, box: SecretBox, input: unknown): DeskSettings {
  const parsed = z
    .object({ serverUrl: z.url({ protocol: /^https?$/ }), token: z.string().trim().min(1) })
    .safeParse(input);
  if (!parsed.success) {
    throw new DeskConfigError('INVALID_SETTINGS', 'Please give the server address (http://…) and the token.');
  }
  if (!box.isEncryptionAvailable()) {
    throw new DeskConfigError('NO_SECURE_STORAGE', 'This computer offers no secure storage for the token.');
  }
  const serverUrl = parsed.data.serverUrl.replace(/\/+$/, '');
  const token = parsed.data.token;
  const tenantId = tenantOfToken(token);
  const file: DeskConfigFile = {
    serverUrl,
    tenantId,
    encryptedToken: box.encryptString(token).toString('base64'),
  };
  writeFileSync(path, JSON.stringify(file, null, 2), { mode: 0o600 });
  return { serverUrl, tenantId, token };
}
