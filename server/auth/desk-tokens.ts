import { z } from 'zod';
import type { Pool } from '../db/pool.ts';

/** One registered desk token, as `sync-admin desk list` and GET /api/admin/desks show it. */
export const deskTokenSchema = z.object({
  id: z.uuid().describe("The token's `jti`: what `sync-admin desk revoke` takes."),
  tenantId: z.uuid(),
  deskName: z.string(),
  signedBy: z.string().describe('Who ran `sync-admin token`.'),
  signedAt: z.iso.datetime({ offset: true }),
  expiresAt: z.iso.datetime({ offset: true }),
  revokedAt: z.iso.datetime({ offset: true }).nullable(),
  revokedBy: z.string().nullable(),
  lastContactAt: z.iso
    .datetime({ offset: true })
    .nullable()
    .describe('The latest /up, /down or /snapshot call with this token still in sync_log; null: none.'),
  lastClientId: z.string().nullable().describe('The clientId the desk sent then.'),
});
export type DeskToken = z.infer<typeof deskTokenSchema>;

/** GET /api/admin/desks: the desks of the caller's tenant, oldest first. */
export const deskListSchema = z.object({ desks: z.array(deskTokenSchema) });

export interface NewDeskToken {
  jti: string;
  tenantId: string;
  deskName: string;
  signedBy: string;
  expiresAt: Date;
}

export async function registerDeskToken(pool: Pool, token: NewDeskToken): Promise<void> {
  await pool.query(
    `INSERT INTO desk_tokens (jti, tenant_id, desk_name, signed_by, expires_at) VALUES ($1, $2, $3, $4, $5)`,
    [token.jti, token.tenantId, token.deskName, token.signedBy, token.expiresAt],
  );
}

interface DeskTokenRow {
  id: string;
  tenant_id: string;
  desk_name: string;
  signed_by: string;
  signed_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_by: string | null;
  last_contact_at: Date | null;
  last_client_id: string | null;
}

/** Registered desk tokens, of one tenant or all, oldest first, each with its last contact. */
export async function listDeskTokens(pool: Pool, options: { tenantId?: string } = {}): Promise<DeskToken[]> {
  const result = await pool.query<DeskTokenRow>(
    `SELECT t.jti::text AS id, t.tenant_id::text, t.desk_name, t.signed_by, t.signed_at, t.expires_at,
            t.revoked_at, t.revoked_by, l.started_at AS last_contact_at, l.client_id AS last_client_id
     FROM desk_tokens t
     LEFT JOIN LATERAL (
       SELECT started_at, client_id FROM sync_log
       WHERE token_id = t.jti ORDER BY started_at DESC LIMIT 1
     ) l ON true
     WHERE $1::uuid IS NULL OR t.tenant_id = $1::uuid
     ORDER BY t.tenant_id, t.signed_at, t.jti`,
    [options.tenantId ?? null],
  );
  return result.rows.map((row) => ({
    id: row.id,
    tenantId: row.tenant_id,
    deskName: row.desk_name,
    signedBy: row.signed_by,
    signedAt: row.signed_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
    revokedBy: row.revoked_by,
    lastContactAt: row.last_contact_at?.toISOString() ?? null,
    lastClientId: row.last_client_id,
  }));
}

/** What `revokeDeskToken` did: nothing when no such token, or when it was already revoked (then when, by whom). */
export type Revocation =
  | { outcome: 'revoked'; token: { tenantId: string; deskName: string } }
  | {
      outcome: 'already';
      token: { tenantId: string; deskName: string; revokedAt: string; revokedBy: string };
    }
  | { outcome: 'unknown' };

/** Revokes a desk token for good. Every server node refuses it within its revocation poll (see revocations.ts). */
export async function revokeDeskToken(pool: Pool, jti: string, revokedBy: string): Promise<Revocation> {
  const updated = await pool.query<{ tenant_id: string; desk_name: string }>(
    `UPDATE desk_tokens SET revoked_at = now(), revoked_by = $2
     WHERE jti = $1 AND revoked_at IS NULL
     RETURNING tenant_id::text, desk_name`,
    [jti, revokedBy],
  );
  const row = updated.rows[0];
  if (row !== undefined)
    return { outcome: 'revoked', token: { tenantId: row.tenant_id, deskName: row.desk_name } };
  const existing = await pool.query<{
    tenant_id: string;
    desk_name: string;
    revoked_at: Date;
    revoked_by: string;
  }>('SELECT tenant_id::text, desk_name, revoked_at, revoked_by FROM desk_tokens WHERE jti = $1', [jti]);
  const found = existing.rows[0];
  if (found === undefined) return { outcome: 'unknown' };
  return {
    outcome: 'already',
    token: {
      tenantId: found.tenant_id,
      deskName: found.desk_name,
      revokedAt: found.revoked_at.toISOString(),
      revokedBy: found.revoked_by,
    },
  };
}

/** The registration of one token id: its tenant and whether it is revoked; null when it was never registered. */
export async function readDeskToken(
  pool: Pool,
  jti: string,
): Promise<{ tenantId: string; revoked: boolean } | null> {
  const result = await pool.query<{ tenant_id: string; revoked: boolean }>({
    name: 'desk-token-read',
    text: 'SELECT tenant_id::text, revoked_at IS NOT NULL AS revoked FROM desk_tokens WHERE jti = $1',
    values: [jti],
  });
  const row = result.rows[0];
  return row === undefined ? null : { tenantId: row.tenant_id, revoked: row.revoked };
}

/** Every revoked token that has not expired yet (an expired one is refused by its `exp` anyway). */
export async function readRevokedTokenIds(pool: Pool): Promise<string[]> {
  const result = await pool.query<{ jti: string }>({
    name: 'desk-tokens-revoked',
    text: 'SELECT jti::text FROM desk_tokens WHERE revoked_at IS NOT NULL AND expires_at > now()',
  });
  return result.rows.map((row) => row.jti);
}
