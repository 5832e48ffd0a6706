-- The change log desks read, and the bookkeeping around it.

-- One row per captured row change, in commit order. Only capture writes here, one batch transaction at a
-- time, so ids become visible in increasing order: a reader paging by id never skips a row.
CREATE TABLE sync_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL,
  entity_type text NOT NULL,
  entity_id uuid NOT NULL,
  operation text NOT NULL CHECK (operation IN ('CREATE', 'UPDATE', 'DELETE')),
  payload jsonb NOT NULL,
  server_version bigint NOT NULL,
  commit_lsn pg_lsn NOT NULL,
  xid bigint NOT NULL,
  modified_at timestamptz NOT NULL,
  origin_client_id text,
  origin_outbox_event_id uuid,
  captured_at timestamptz NOT NULL DEFAULT now()
);
-- Every index here is paid for on each captured row, so there are few: keyset reads of one tenant; commit
-- time (a block-range index: ids follow commit order, so the `lastSyncTimestamp` path finds its start
-- cheaply); and deletions by entity (partial, tiny), for the serverVersion of a DELETE of a row already gone.
CREATE INDEX sync_events_tenant_id_idx ON sync_events (tenant_id, id);
CREATE INDEX sync_events_modified_brin ON sync_events USING brin (modified_at);
CREATE INDEX sync_events_deletes_idx ON sync_events (tenant_id, entity_id, id) WHERE operation = 'DELETE';

-- Per-tenant validity of cursors. A cursor is valid while its epoch is the tenant's and its position is not
-- below floor_id. Pruning raises floor_id; a TRUNCATE of an entity table or a lost slot bumps the epoch and
-- raises floor_id to the end of the log, so every older cursor (and a null cursor) gets 410.
CREATE TABLE sync_tenant_log (
  tenant_id uuid PRIMARY KEY,
  epoch integer NOT NULL DEFAULT 0,
  floor_id bigint NOT NULL DEFAULT 0,
  reason text,
  changed_at timestamptz NOT NULL DEFAULT now()
);

-- Capture progress: the commit LSN of the last transaction whose events are stored. Written in the same
-- transaction as those events; transactions at or below it are skipped after a restart.
CREATE TABLE sync_capture_state (
  slot_name text PRIMARY KEY,
  last_commit_lsn pg_lsn NOT NULL DEFAULT '0/0',
  last_commit_time timestamptz,
  events_stored bigint NOT NULL DEFAULT 0,
  leader text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per /up, /down and /snapshot request.
CREATE TABLE sync_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL,
  client_id text NOT NULL,
  direction text NOT NULL CHECK (direction IN ('UP', 'DOWN', 'SNAPSHOT')),
  events_count integer NOT NULL DEFAULT 0,
  conflicts_count integer NOT NULL DEFAULT 0,
  rejected_count integer NOT NULL DEFAULT 0,
  status text NOT NULL CHECK (status IN ('SUCCESS', 'PARTIAL', 'FAILED')),
  started_at timestamptz NOT NULL,
  completed_at timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL,
  error_message text
);
CREATE INDEX sync_log_tenant_idx ON sync_log (tenant_id, started_at);
CREATE INDEX sync_log_started_idx ON sync_log (started_at);
