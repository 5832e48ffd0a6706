-- Bounded pages: /down and the fan-out cut a page by bytes as well as rows.

-- The size of each change's payload as the JSON text a page ships (jsonb's text form), written by capture
-- with the row (counted from the JSON text it built: a generated column doing octet_length(payload::text)
-- cost its single writer a tenth of its throughput). A page adds these up over the rows it reads to stop
-- at the byte budget; computing them at read time would detoast every payload of the rows read past the
-- budget too (1 000 rows of 100 KB to send 40 of them). NULL (a row another writer stored) is measured
-- when read.
ALTER TABLE sync_events ADD COLUMN payload_bytes integer;

-- `lastSyncTimestamp` reads start at the tenant's first change committed after a time: one probe of this
-- index rather than a scan of the tenant's log or of every tenant's rows of that time range (the block
-- range index cannot order by commit time within one tenant).
CREATE INDEX sync_events_tenant_modified_idx ON sync_events (tenant_id, modified_at, id);
