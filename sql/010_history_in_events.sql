-- Record history rides on the change log: capture stores a change's history fields in its sync_events row
-- (one row, one COPY) instead of a second row in sync_history. A second COPY with its own two indexes cost
-- capture's single writer a quarter of its throughput; four nullable columns and one partial index cost it
-- a few percent. sync_history keeps what sync_events no longer holds: entries of changes the scheduled prune
-- deleted (moved there by that prune, in the same statement), entries written before this migration, and
-- ACCEPT_SERVER resolutions (which change no entity row). sync_record_history reads both as one.

-- NULL changes: no history for this row (history off, or stored before this migration: its entry is in
-- sync_history). A CREATE stores '{}': its changes are every tracked field of its payload, expanded when
-- read, so capture neither builds nor stores them twice. An UPDATE stores { field: { from, to } } and a
-- DELETE { field: value } as 009_history.sql says.
ALTER TABLE sync_events
  ADD COLUMN changes json,
  ADD COLUMN edited_at timestamptz,
  ADD COLUMN origin_user_id text,
  ADD COLUMN decision text CHECK (decision IN ('KEEP_LOCAL', 'ACCEPT_SERVER'));

-- A record's history by its id, as sync_history_entity_idx does there; only rows that carry history pay
-- for it. A hash index: the lookup is by equality only, and inserting random uuids into it cost capture a
-- third of what a btree did (measured with bench/capture.bench.ts).
CREATE INDEX sync_events_history_idx ON sync_events USING hash (entity_id) WHERE changes IS NOT NULL;

-- The entries of the change log, in sync_history's columns and form (a CREATE's changes expanded from its
-- payload, without the fields an entry carries itself or that never change).
CREATE VIEW sync_event_history AS
SELECT id AS event_id, tenant_id, entity_type, entity_id, server_version, operation,
       modified_at AS committed_at, edited_at, origin_user_id, origin_client_id, origin_outbox_event_id,
       decision,
       CASE WHEN operation = 'CREATE'
            THEN (payload - 'id' - 'tenantId' - 'serverVersion' - 'updatedAt')::json
            ELSE changes END AS changes
  FROM sync_events
 WHERE changes IS NOT NULL;

-- Every history entry a reader sees: those moved out of the change log or never in it, and those still in it.
CREATE VIEW sync_record_history AS
SELECT tenant_id, entity_type, entity_id, server_version, operation, committed_at, edited_at,
       origin_user_id, origin_client_id, origin_outbox_event_id, decision, changes
  FROM sync_history
UNION ALL
SELECT tenant_id, entity_type, entity_id, server_version, operation, committed_at, edited_at,
       origin_user_id, origin_client_id, origin_outbox_event_id, decision, changes
  FROM sync_event_history;
