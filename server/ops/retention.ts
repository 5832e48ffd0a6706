import type { Logger } from 'pino';
import type { SyncRules } from '../config/rules.ts';
import type { Pool } from '../db/pool.ts';
import type { Service } from '../service.ts';
import { Periodic } from './periodic.ts';
import { assert } from '../../shared/asserts.ts';

/** Rows deleted per statement: a prune of millions of rows never holds its locks for long. */
export const PRUNE_CHUNK_ROWS = 10_000;

const DAY_MS = 86_400_000;

/** What a prune of sync_events did. */
export interface EventsPruned {
  /** Changes committed before this instant were deleted. */
  cutoff: string;
  deleted: number;
  /** History entries of the deleted changes moved to sync_history (the others were past historyDays). */
  archived: number;
  /** Per tenant that lost changes: the new floor_id (cursors below it get 410). */
  tenants: { tenantId: string; deleted: number; floorId: number }[];
}

export interface LogsPruned {
  syncLog: { cutoff: string | null; deleted: number };
  audit: { cutoff: string | null; deleted: number };
  /** Stored upload answers (idempotency), kept as long as the audit trail. */
  uploadResults: { cutoff: string | null; deleted: number };
  /** Record history (sync_history), kept `retention.historyDays` whatever sync_events keeps. */
  history: { cutoff: string | null; deleted: number };
}

// Tenants present in a table, by skipping through its (tenant_id, …) index rather than reading every row.
const tenantsOf = (table: string): string => `
WITH RECURSIVE t AS (
  (SELECT tenant_id FROM ${table} ORDER BY tenant_id LIMIT 1)
  UNION ALL
  SELECT (SELECT x.tenant_id FROM ${table} x WHERE x.tenant_id > t.tenant_id ORDER BY x.tenant_id LIMIT 1)
    FROM t WHERE t.tenant_id IS NOT NULL
)
SELECT tenant_id::text FROM t WHERE tenant_id IS NOT NULL`;

// Where a tenant's prune stops: its first change committed at or after the cutoff $2 (ids follow commit
// order, so every change below it was committed before the cutoff), else the log's end (changes stored
// during the prune come above it). Found once per tenant by walking sync_events_tenant_id_idx from the
// tenant's oldest change, which are the changes the prune deletes (migration 011).
const PRUNE_BOUNDARY = `
SELECT coalesce(
  (SELECT id FROM sync_events WHERE tenant_id = $1 AND modified_at >= $2 ORDER BY id LIMIT 1),
  (SELECT coalesce(max(id), 0) + 1 FROM sync_events)
)::text AS boundary`;

// One chunk of one tenant below its boundary $6, in one statement (so one transaction): the rows go and
// the tenant's floor rises to the highest id deleted. A cursor below that id would miss a deleted change,
// so it gets 410; a cursor at or above it needs only rows above it, which are all kept. This holds whatever
// order chunks go in.
// The history entries of the rows deleted (those committed since the history cutoff $5, every one when it is
// null) move to sync_history in the same statement: record history outlives the change log, and a crash
// between the two cannot lose nor double an entry (010_history_in_events.sql).
const PRUNE_EVENTS_CHUNK = `
WITH doomed AS (
  SELECT id FROM sync_events WHERE tenant_id = $1 AND id < $6 AND modified_at < $2 ORDER BY id LIMIT $3
),
archived AS (
  INSERT INTO sync_history (tenant_id, entity_type, entity_id, server_version, operation, committed_at,
                            edited_at, origin_user_id, origin_client_id, origin_outbox_event_id, decision, changes)
  SELECT h.tenant_id, h.entity_type, h.entity_id, h.server_version, h.operation, h.committed_at, h.edited_at,
         h.origin_user_id, h.origin_client_id, h.origin_outbox_event_id, h.decision, h.changes
    FROM sync_event_history h JOIN doomed d ON h.event_id = d.id
   WHERE $5::timestamptz IS NULL OR h.committed_at >= $5
  RETURNING 1
),
deleted AS (
  DELETE FROM sync_events e USING doomed d WHERE e.id = d.id RETURNING e.id
),
floor AS (
  INSERT INTO sync_tenant_log (tenant_id, floor_id, reason, changed_at)
  SELECT $1, max(id), $4, now() FROM deleted HAVING count(*) > 0
  ON CONFLICT (tenant_id) DO UPDATE
    SET floor_id = greatest(sync_tenant_log.floor_id, EXCLUDED.floor_id),
        reason = EXCLUDED.reason,
        changed_at = EXCLUDED.changed_at
  RETURNING floor_id
)
SELECT (SELECT count(*) FROM deleted)::integer AS deleted, (SELECT floor_id FROM floor) AS floor_id,
       (SELECT count(*) FROM archived)::integer AS archived`;

/**
 * Deletes every change committed more than `olderThanMs` ago (0: before now), per tenant and in chunks,
 * raising each tenant's floor_id with the deletion so that cursors older than what is kept get 410 (and a
 * null cursor too: the desk bootstraps from the snapshot). The cutoff is the database's clock. The history
 * entries of the deleted changes younger than `historyDays` (0: all of them) move to sync_history.
 */
export async function pruneEvents(
  pool: Pool,
  olderThanMs: number,
  { historyDays }: Pick<SyncRules['retention'], 'historyDays'>,
): Promise<EventsPruned> {
  const cutoff = await cutoffBefore(pool, olderThanMs);
  const historyCutoff = historyDays > 0 ? await cutoffBefore(pool, historyDays * DAY_MS) : null;
  const reason = `pruned changes before ${cutoff}`;
  const tenants = await pool.query<{ tenant_id: string }>(tenantsOf('sync_events'));
  const result: EventsPruned = { cutoff, deleted: 0, archived: 0, tenants: [] };
  for (const { tenant_id: tenantId } of tenants.rows) {
    let deleted = 0;
    let floorId = 0;
    const found = await pool.query<{ boundary: string }>(PRUNE_BOUNDARY, [tenantId, cutoff]);
    const boundary = found.rows[0]?.boundary;
    assert(boundary !== undefined, 'the boundary query returns one row');
    for (;;) {
      const chunk = await pool.query<{ deleted: number; floor_id: number | null; archived: number }>(
        PRUNE_EVENTS_CHUNK,
        [tenantId, cutoff, PRUNE_CHUNK_ROWS, reason, historyCutoff, boundary],
      );
      const row = chunk.rows[0];
      if (row === undefined || row.deleted === 0) break;
      deleted += row.deleted;
      result.archived += row.archived;
      floorId = row.floor_id ?? floorId;
      if (row.deleted < PRUNE_CHUNK_ROWS) break;
    }
    if (deleted > 0) result.tenants.push({ tenantId, deleted, floorId });
    result.deleted += deleted;
  }
  return result;
}

/**
 * Summarizes the block ranges of sync_events that the record-history index (012_history_bloom_index.sql)
 * has not summarized yet: autovacuum does it as each range fills, but drops requests it has no room for,
 * and a history lookup reads every range not summarized in full. Returns how many ranges it summarized.
 */
export async function summarizeHistoryIndex(pool: Pool): Promise<number> {
  const result = await pool.query<{ ranges: number }>(
    `SELECT brin_summarize_new_values('sync_events_history_bloom'::regclass)::integer AS ranges`,
  );
  return result.rows[0]?.ranges ?? 0;
}

/**
 * Applies the sync-rules retention to sync_log (`retention.syncLogDays`), to the audit trail
 * (`retention.auditDays`) and to record history (`retention.historyDays`), in chunks. A retention of 0
 * days keeps that table forever: audit rows are deleted by nothing but an explicit retention.
 */
export async function pruneLogs(pool: Pool, rules: Pick<SyncRules, 'retention'>): Promise<LogsPruned> {
  const { syncLogDays, auditDays, historyDays } = rules.retention;
  return {
    syncLog: await pruneByTime(pool, 'sync_log', 'started_at', syncLogDays),
    audit: await pruneByTime(pool, 'sync_audit', 'created_at', auditDays),
    uploadResults: await pruneUploadResults(pool, auditDays),
    history: await pruneHistory(pool, historyDays),
  };
}

/**
 * History entries committed more than `days` ago, whatever sync_events keeps: a school answers "who
 * changed this grade" about last year's grades too. Through the block-range index on committed_at
 * (entries arrive in commit order), a chunk at a time.
 */
async function pruneHistory(pool: Pool, days: number): Promise<{ cutoff: string | null; deleted: number }> {
  if (days <= 0) return { cutoff: null, deleted: 0 };
  const cutoff = await cutoffBefore(pool, days * DAY_MS);
  const chunkSql = `
    WITH doomed AS (SELECT ctid FROM sync_history WHERE committed_at < $1 LIMIT $2)
    DELETE FROM sync_history h USING doomed d WHERE h.ctid = d.ctid`;
  return { cutoff, deleted: await deleteInChunks(pool, chunkSql, [cutoff]) };
}

/**
 * Stored upload answers older than the audit retention. An outbox event sent again after that is decided
 * afresh (against the row's version it is then almost always a conflict), as its audit row is gone too.
 */
async function pruneUploadResults(
  pool: Pool,
  days: number,
): Promise<{ cutoff: string | null; deleted: number }> {
  if (days <= 0) return { cutoff: null, deleted: 0 };
  const cutoff = await cutoffBefore(pool, days * DAY_MS);
  // Through the created_at index.
  const chunkSql = `
    WITH doomed AS (
      SELECT tenant_id, outbox_event_id FROM sync_upload_results WHERE created_at < $1 ORDER BY created_at LIMIT $2
    )
    DELETE FROM sync_upload_results x USING doomed d
     WHERE x.tenant_id = d.tenant_id AND x.outbox_event_id = d.outbox_event_id`;
  return { cutoff, deleted: await deleteInChunks(pool, chunkSql, [cutoff]) };
}

async function pruneByTime(
  pool: Pool,
  table: 'sync_log' | 'sync_audit',
  column: 'started_at' | 'created_at',
  days: number,
): Promise<{ cutoff: string | null; deleted: number }> {
  if (days <= 0) return { cutoff: null, deleted: 0 };
  const cutoff = await cutoffBefore(pool, days * DAY_MS);
  // Through each tenant's (tenant_id, time) index: a chunk never scans rows it keeps.
  const chunkSql = `
    WITH doomed AS (SELECT id FROM ${table} WHERE tenant_id = $1 AND ${column} < $2 ORDER BY ${column} LIMIT $3)
    DELETE FROM ${table} x USING doomed d WHERE x.id = d.id`;
  let deleted = 0;
  const tenants = await pool.query<{ tenant_id: string }>(tenantsOf(table));
  for (const { tenant_id: tenantId } of tenants.rows) {
    deleted += await deleteInChunks(pool, chunkSql, [tenantId, cutoff]);
  }
  return { cutoff, deleted };
}

/**
 * Runs a chunk DELETE (its last parameter is the chunk size) until a chunk deletes fewer rows than that;
 * returns how many it deleted. A large prune so never holds many row locks at once.
 */
async function deleteInChunks(pool: Pool, chunkSql: string, params: unknown[]): Promise<number> {
  let deleted = 0;
  for (;;) {
    const chunk = await pool.query(chunkSql, [...params, PRUNE_CHUNK_ROWS]);
    deleted += chunk.rowCount ?? 0;
    if ((chunk.rowCount ?? 0) < PRUNE_CHUNK_ROWS) return deleted;
  }
}

/** The database's now() minus `olderThanMs`, as ISO 8601 text with Postgres' microseconds. */
async function cutoffBefore(pool: Pool, olderThanMs: number): Promise<string> {
  const result = await pool.query<{ cutoff: string }>(
    `SELECT to_json(now() - $1::double precision * interval '1 millisecond') #>> '{}' AS cutoff`,
    [olderThanMs],
  );
  const cutoff = result.rows[0]?.cutoff;
  assert(cutoff !== undefined, 'the cutoff query returns a row');
  return cutoff;
}

export interface RetentionOptions {
  pool: Pool;
  rules: Pick<SyncRules, 'retention'>;
}

/**
 * The scheduled prune: every `retention.pruneEveryMinutes` (0: never), sync_events by `syncEventsDays`
 * (0: kept forever), then sync_log, the audit trail and record history by theirs. Every server may run it; concurrent
 * prunes of the same rows are harmless.
 */
export class RetentionService implements Service {
  readonly name = 'retention';
  private readonly loop: Periodic | null;
  private readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(
    private readonly log: Logger,
    private readonly options: RetentionOptions,
  ) {
    const minutes = options.rules.retention.pruneEveryMinutes;
    this.loop =
      minutes > 0
        ? new Periodic(log, {
            name: this.name,
            everyMs: minutes * 60_000,
            tick: async () => {
              await this.prune();
            },
          })
        : null;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  run(): Promise<void> {
    if (this.loop === null) {
      this.log.info('retention.pruneEveryMinutes is 0: no scheduled prune');
      return this.stopped;
    }
    return this.loop.run();
  }

  async stop(): Promise<void> {
    this.resolveStopped();
    await this.loop?.stop();
  }

  /** One prune by the sync-rules retention. */
  async prune(): Promise<{ events: EventsPruned | null; logs: LogsPruned }> {
    const { syncEventsDays } = this.options.rules.retention;
    const started = Date.now();
    const { pool, rules } = this.options;
    const events =
      syncEventsDays > 0 ? await pruneEvents(pool, syncEventsDays * DAY_MS, rules.retention) : null;
    const logs = await pruneLogs(pool, rules);
    const summarizedRanges = await summarizeHistoryIndex(pool);
    this.log.info(
      {
        events: events?.deleted ?? 0,
        summarizedRanges,
        tenants: events?.tenants.length ?? 0,
        syncLog: logs.syncLog.deleted,
        audit: logs.audit.deleted,
        uploadResults: logs.uploadResults.deleted,
        history: logs.history.deleted,
        ms: Date.now() - started,
      },
      'retention prune done',
    );
    return { events, logs };
  }
}
