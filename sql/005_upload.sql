-- Uploads from desks: the stored answer of every outbox event (idempotency) and the audit trail.

-- One row per outbox event id a tenant ever sent. The primary key is the claim: a second request carrying
-- the same id (a retry, or the same batch in parallel) waits for the first to commit and then gets the
-- stored answer instead of applying anything.
CREATE TABLE sync_upload_results (
  tenant_id uuid NOT NULL,
  outbox_event_id uuid NOT NULL,
  server_event_id bigint GENERATED ALWAYS AS IDENTITY,
  client_id text,
  entity_type text,
  entity_id uuid,
  operation text,
  outcome text NOT NULL DEFAULT 'PENDING' CHECK (outcome IN ('PENDING', 'ACKNOWLEDGED', 'CONFLICT', 'REJECTED')),
  response jsonb,
  -- Set when a conflict is resolved through /api/sync/conflicts/:id/resolve; a repeated resolve gets it back.
  resolution jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  PRIMARY KEY (tenant_id, outbox_event_id)
);
CREATE INDEX sync_upload_results_created_idx ON sync_upload_results (created_at);

-- The audit trail: one row per event outcome (and per conflict resolution). Sync never deletes these rows;
-- retention is the sync-rules file's `retention.auditDays`, applied by the scheduled prune.
CREATE TABLE sync_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL,
  user_id text NOT NULL,
  client_id text NOT NULL,
  outbox_event_id text NOT NULL,
  entity_type text,
  entity_id text,
  operation text,
  outcome text NOT NULL,
  code text,
  version_before bigint,
  version_after bigint,
  reason text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_audit_tenant_idx ON sync_audit (tenant_id, created_at);
CREATE INDEX sync_audit_event_idx ON sync_audit (tenant_id, outbox_event_id);
