-- A source transaction with more rows than a capture batch holds (a bulk UPDATE of a whole table, an
-- import) is stored in pieces as it streams in, so capture's memory stays bounded whatever its size.
-- While one is being stored, these name it (its commit LSN) and how many of its changes (row and TRUNCATE
-- messages, in stream order) are stored; its LSN is acknowledged only once its last piece is stored. After a
-- restart the transaction is received again from its start and its stored changes are skipped.
ALTER TABLE sync_capture_state
  ADD COLUMN partial_commit_lsn pg_lsn,
  ADD COLUMN partial_changes integer NOT NULL DEFAULT 0;
