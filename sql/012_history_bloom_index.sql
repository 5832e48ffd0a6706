-- A record's history is found in sync_events through a block-range bloom index instead of the hash index
-- of 010. Every index of sync_events is paid for on every row capture stores: the hash index cost capture's
-- single writer about a tenth of its throughput with history on (bench/capture.bench.ts, same runs: 38 500
-- changes/s with it, 45 500 with this one, 46 000 with neither), while a bloom range index costs a row's
-- insert next to nothing: a range is summarized once full, in bulk, by autovacuum (autosummarize), and the
-- scheduled prune summarizes whatever autovacuum has not (server/ops/retention.ts).
-- A lookup reads the summaries (one per 32 pages, a few KB each) and then only the ranges whose filter
-- holds the record: 3 ms for a record's history in a 1M-change log, 4 ms in 3M, against 1 ms by the hash
-- index (bench measurement of this migration's session); the ranges not yet summarized are read whole.
-- tenant_id is in the index too, so that the planner does not AND it with sync_events_tenant_id_idx (a
-- bitmap of the whole tenant, which made the lookup 10 times slower).
DROP INDEX IF EXISTS sync_events_history_idx;
CREATE INDEX sync_events_history_bloom ON sync_events
  USING brin (entity_id uuid_bloom_ops (n_distinct_per_range = 1000, false_positive_rate = 0.001),
              tenant_id uuid_bloom_ops (n_distinct_per_range = 100, false_positive_rate = 0.01))
  WITH (pages_per_range = 32, autosummarize = on)
  WHERE changes IS NOT NULL;
