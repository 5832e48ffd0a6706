-- Record history: who changed a record, when, from where, and what changed. Written by capture, one row per
-- captured change, in the same transaction as the change's sync_events row (so exactly once across
-- crashes); ACCEPT_SERVER resolutions, which write no entity row, add theirs in the resolving transaction.
-- Kept retention.historyDays, whatever sync_events keeps.
CREATE TABLE sync_history (
  tenant_id uuid NOT NULL,
  entity_type text NOT NULL,
  entity_id uuid NOT NULL,
  server_version bigint NOT NULL,
  operation text NOT NULL CHECK (operation IN ('CREATE', 'UPDATE', 'DELETE')),
  committed_at timestamptz NOT NULL,
  -- The desk's edit time (the outbox event's createdAt) and who made it; null for any other writer.
  edited_at timestamptz,
  origin_user_id text,
  origin_client_id text,
  origin_outbox_event_id uuid,
  decision text CHECK (decision IN ('KEEP_LOCAL', 'ACCEPT_SERVER')),
  -- The fields that differ from the previous version; hidden fields are never stored. An UPDATE stores
  -- { field: { from, to } } ({ to } alone when the old row was not sent); a CREATE stores { field: value }
  -- (every field, from nothing) and a DELETE { field: value } (every field, to nothing): half the bytes,
  -- expanded to { from, to } when read. json, not jsonb: stored as capture wrote it, never queried inside,
  -- and cheaper to store on capture's hot path.
  changes json NOT NULL
);
-- Each index is paid for on every captured row, so there are two: the record id (a record's history is a
-- few dozen entries, sorted when read), and a block-range index on commit time for the prune (rows arrive
-- in commit order). Entries of one record are ordered by (server_version, committed_at): an ACCEPT_SERVER
-- entry carries the version it accepted and a later time.
CREATE INDEX sync_history_entity_idx ON sync_history (entity_id);
CREATE INDEX sync_history_committed_brin ON sync_history USING brin (committed_at);

-- The desk's edit time of an upload, so that a conflict resolved KEEP_LOCAL later still records when she
-- made the edit rather than when she resolved it.
ALTER TABLE sync_upload_results ADD COLUMN edited_at timestamptz;
