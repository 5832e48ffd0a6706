-- Desk tokens that sync-admin signed, so that one can be revoked (a stolen laptop). A token that carries a
-- `jti` is accepted only while its row exists here without `revoked_at`; tokens without one (people's,
-- and desks' signed before this table) are not affected.
CREATE TABLE desk_tokens (
  jti uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  desk_name text NOT NULL,
  signed_by text NOT NULL,
  signed_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_by text,
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX desk_tokens_tenant_idx ON desk_tokens (tenant_id, signed_at);
-- What every server node polls each second: the revoked tokens that have not expired yet (few rows).
CREATE INDEX desk_tokens_revoked_idx ON desk_tokens (expires_at) WHERE revoked_at IS NOT NULL;

-- The token of each sync_log row, when it had a jti: a desk's last contact is its latest row.
ALTER TABLE sync_log ADD COLUMN token_id uuid;
CREATE INDEX sync_log_token_idx ON sync_log (token_id, started_at) WHERE token_id IS NOT NULL;
