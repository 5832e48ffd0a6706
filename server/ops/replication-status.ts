import { ENTITY_TABLES, entityTypeOfTable, type EntityType } from '../../shared/entities.ts';
import { CAPTURE_LOCK_CLASS } from '../capture/leader.ts';
import type { SyncRules } from '../config/rules.ts';
import type { Pool } from '../db/pool.ts';
import { encodeCursor } from '../log/cursor.ts';
import type { RateMeter } from '../capture/rate.ts';
import type { PublishedTable, ReplicationStatus } from './status-schema.ts';
import { statusWarnings } from './status-warnings.ts';
import { walThresholds, type WalThresholds } from './thresholds.ts';
import { must } from '../../shared/asserts.ts';

/** Up to this many sync_events rows are counted exactly; above, the planner's estimate is reported. */
const EXACT_COUNT_LIMIT = 100_000;

/** The part of the in-process capture's status that `status` uses (server/capture Capture.status fits). */
export interface LiveCaptureStatus {
  leader: boolean;
  eventsPerSecond: number;
}

export interface ReplicationStatusOptions extends Partial<WalThresholds> {
  slotName: string;
  publicationName: string;
  /** The types capture syncs: each one's table must be published. */
  entityTypes: readonly EntityType[];
  /** Only this tenant in `log.tenants` (an HTTP caller sees its own tenant only); unset: every tenant. */
  tenantId?: string;
  /** Kept across readings (a route, a CLI sampling twice): gives events/s from events_stored. */
  rate?: RateMeter;
  /** This process's capture: when it leads, its own events/s is used. */
  liveCapture?: LiveCaptureStatus | null;
}

/** The options `status` and the admin route derive from the sync-rules file. */
export function statusOptionsFromRules(
  rules: Pick<SyncRules, 'capture' | 'entityTypes' | 'ops'>,
): Pick<
  ReplicationStatusOptions,
  'slotName' | 'publicationName' | 'entityTypes' | 'walWarnBytes' | 'walCriticalBytes'
> {
  return {
    slotName: rules.capture.slotName,
    publicationName: rules.capture.publicationName,
    entityTypes: rules.entityTypes,
    walWarnBytes: rules.ops.walWarnBytes,
    walCriticalBytes: rules.ops.walCriticalBytes,
  };
}

/**
 * Everything a DBA needs about replication, read from the database: the slot, the publication and its
 * tables, capture's progress, the log's size and what each tenant's log still serves, and the warnings
 * these facts call for. Reads only; works from any process (server, sync-admin) with catalog access.
 */
export async function readReplicationStatus(
  pool: Pool,
  options: ReplicationStatusOptions,
): Promise<ReplicationStatus> {
  const [database, slot, publication, capture, log] = await Promise.all([
    readDatabase(pool),
    readSlot(pool, options.slotName),
    readPublication(pool, options),
    readCapture(pool, options.slotName),
    readLog(pool, options.tenantId),
  ]);
  const live = options.liveCapture;
  const sampled = options.rate?.reading(capture.eventsStored) ?? null;
  const eventsPerSecond = live?.leader === true ? live.eventsPerSecond : sampled;
  const status: ReplicationStatus = {
    checkedAt: new Date().toISOString(),
    database,
    slot,
    publication,
    capture: { ...capture, eventsPerSecond },
    log,
    warnings: [],
  };
  status.warnings = statusWarnings(status, {
    ...walThresholds(options),
    entityTables: options.entityTypes.map((type) => ENTITY_TABLES[type]),
    currentSchema: database.schema,
  });
  return status;
}

async function readDatabase(pool: Pool): Promise<ReplicationStatus['database']> {
  const result = await pool.query<{
    name: string;
    schema: string;
    server_version: string;
    wal_level: string;
    keep: string;
    lsn: string;
  }>(
    `SELECT current_database() AS name, current_schema() AS schema,
            current_setting('server_version') AS server_version, current_setting('wal_level') AS wal_level,
            current_setting('max_slot_wal_keep_size') AS keep, pg_current_wal_lsn()::text AS lsn`,
  );
  const row = one(result.rows, 'database');
  return {
    name: row.name,
    schema: row.schema,
    serverVersion: row.server_version,
    walLevel: row.wal_level,
    maxSlotWalKeepSize: row.keep,
    currentWalLsn: row.lsn,
  };
}

async function readSlot(pool: Pool, slotName: string): Promise<ReplicationStatus['slot']> {
  // invalidation_reason exists from Postgres 17 on: read through to_jsonb so older servers answer too.
  const result = await pool.query<{
    database: string | null;
    plugin: string | null;
    active: boolean;
    active_pid: number | null;
    wal_status: string | null;
    invalidation_reason: string | null;
    restart_lsn: string | null;
    confirmed_flush_lsn: string | null;
    retained: number | null;
    lag: number | null;
    safe_wal_size: number | null;
  }>(
    `SELECT s.database, s.plugin, s.active, s.active_pid, s.wal_status,
            to_jsonb(s) ->> 'invalidation_reason' AS invalidation_reason,
            s.restart_lsn::text, s.confirmed_flush_lsn::text,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint AS retained,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint AS lag,
            s.safe_wal_size
       FROM pg_replication_slots s WHERE s.slot_name = $1`,
    [slotName],
  );
  const row = result.rows[0];
  return {
    name: slotName,
    exists: row !== undefined,
    database: row?.database ?? null,
    plugin: row?.plugin ?? null,
    active: row?.active ?? false,
    activePid: row?.active_pid ?? null,
    walStatus: row?.wal_status ?? null,
    invalidationReason: row?.invalidation_reason ?? null,
    restartLsn: row?.restart_lsn ?? null,
    confirmedFlushLsn: row?.confirmed_flush_lsn ?? null,
    retainedBytes: row?.retained ?? null,
    lagBytes: row?.lag ?? null,
    safeWalSizeBytes: row?.safe_wal_size ?? null,
  };
}

const REPLICA_IDENTITY = { d: 'default', n: 'nothing', f: 'full', i: 'index' } as const;

async function readPublication(
  pool: Pool,
  options: Pick<ReplicationStatusOptions, 'publicationName' | 'entityTypes'>,
): Promise<ReplicationStatus['publication']> {
  const name = options.publicationName;
  const publication = await pool.query<{
    pubinsert: boolean;
    pubupdate: boolean;
    pubdelete: boolean;
    pubtruncate: boolean;
  }>('SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1', [name]);
  const flags = publication.rows[0];
  if (flags === undefined) {
    const none = { insert: false, update: false, delete: false, truncate: false };
    return { name, exists: false, operations: none, tables: [] };
  }
  const tables = await pool.query<{
    schemaname: string;
    tablename: string;
    relreplident: keyof typeof REPLICA_IDENTITY;
    has_tenant_id: boolean;
  }>(
    `SELECT pt.schemaname, pt.tablename, c.relreplident,
            EXISTS (SELECT 1 FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND a.attnum > 0
                       AND NOT a.attisdropped) AS has_tenant_id
       FROM pg_publication_tables pt
       JOIN pg_namespace n ON n.nspname = pt.schemaname
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
      WHERE pt.pubname = $1
      ORDER BY pt.schemaname, pt.tablename`,
    [name],
  );
  const synced = new Set<EntityType>(options.entityTypes);
  return {
    name,
    exists: true,
    operations: {
      insert: flags.pubinsert,
      update: flags.pubupdate,
      delete: flags.pubdelete,
      truncate: flags.pubtruncate,
    },
    tables: tables.rows.map((row): PublishedTable => {
      // Capture recognises an entity table by its name, as here.
      const type = entityTypeOfTable(row.tablename);
      return {
        schema: row.schemaname,
        name: row.tablename,
        replicaIdentity: REPLICA_IDENTITY[row.relreplident],
        hasTenantId: row.has_tenant_id,
        entityType: type !== undefined && synced.has(type) ? type : null,
      };
    }),
  };
}

async function readCapture(
  pool: Pool,
  slotName: string,
): Promise<Omit<ReplicationStatus['capture'], 'eventsPerSecond'>> {
  // Leadership is a two-key advisory lock (server/capture/leader.ts); its holder is the live leader, which
  // sync_capture_state.leader may not name after a crash.
  const result = await pool.query<{
    leader: string | null;
    last_commit_lsn: string | null;
    partial_commit_lsn: string | null;
    partial_changes: number | null;
    last_commit_time: Date | null;
    events_stored: number | null;
    updated_at: Date | null;
    lock_held: boolean;
  }>(
    `SELECT s.leader, s.last_commit_lsn::text, s.partial_commit_lsn::text, s.partial_changes, s.last_commit_time, s.events_stored, s.updated_at,
            EXISTS (SELECT 1 FROM pg_locks l
                     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND l.classid = $2::integer::oid AND l.objid = hashtext($1)::oid) AS lock_held
       FROM (SELECT 1) AS one
       LEFT JOIN sync_capture_state s ON s.slot_name = $1`,
    [slotName, CAPTURE_LOCK_CLASS],
  );
  const row = one(result.rows, 'capture');
  return {
    leader: row.leader,
    leaderConnected: row.lock_held,
    lastLsn: row.last_commit_lsn,
    largeTransaction:
      row.partial_commit_lsn === null
        ? null
        : { commitLsn: row.partial_commit_lsn, changesStored: row.partial_changes ?? 0 },
    lastCommitTime: row.last_commit_time?.toISOString() ?? null,
    eventsStored: row.events_stored ?? 0,
    updatedAt: row.updated_at?.toISOString() ?? null,
  };
}

async function readLog(pool: Pool, tenantId: string | undefined): Promise<ReplicationStatus['log']> {
  const size = await pool.query<{ estimate: number; bytes: number; counted: number; last_id: number }>(
    `SELECT c.reltuples::bigint AS estimate, pg_total_relation_size(c.oid) AS bytes,
            (SELECT count(*) FROM (SELECT 1 FROM sync_events LIMIT $1) AS bounded) AS counted,
            coalesce((SELECT max(id) FROM sync_events), 0) AS last_id
       FROM pg_class c WHERE c.oid = 'sync_events'::regclass`,
    [EXACT_COUNT_LIMIT + 1],
  );
  const { estimate, bytes, counted, last_id } = one(size.rows, 'sync_events size');
  const exact = counted <= EXACT_COUNT_LIMIT;
  const tenants = await pool.query<{
    tenant_id: string;
    name: string;
    epoch: number;
    floor_id: number;
    oldest_id: number | null;
    oldest_at: Date | null;
    reason: string | null;
    changed_at: Date | null;
  }>(
    `SELECT t.id::text AS tenant_id, t.name, coalesce(l.epoch, 0) AS epoch,
            coalesce(l.floor_id, 0) AS floor_id, o.id AS oldest_id, o.modified_at AS oldest_at,
            l.reason, l.changed_at
       FROM tenants t
       LEFT JOIN sync_tenant_log l ON l.tenant_id = t.id
       LEFT JOIN LATERAL (SELECT e.id, e.modified_at FROM sync_events e
                           WHERE e.tenant_id = t.id ORDER BY e.id LIMIT 1) o ON true
      WHERE $1::uuid IS NULL OR t.id = $1::uuid
      ORDER BY t.created_at, t.id`,
    [tenantId ?? null],
  );
  return {
    rows: exact ? counted : Math.max(estimate, counted),
    rowsExact: exact,
    bytes,
    lastEventId: last_id,
    tenants: tenants.rows.map((row) => ({
      tenantId: row.tenant_id,
      name: row.name,
      epoch: row.epoch,
      floorId: row.floor_id,
      oldestCursor: encodeCursor({ epoch: row.epoch, eventId: row.floor_id }),
      oldestEventId: row.oldest_id,
      oldestChangeAt: row.oldest_at?.toISOString() ?? null,
      reason: row.reason,
      changedAt: row.changed_at?.toISOString() ?? null,
    })),
  };
}

function one<T>(rows: T[], what: string): T {
  return must(rows[0], () => `${what} query returned no row`);
}

/** sync_capture_state.events_stored of the slot (0 without a row): one reading for a RateMeter. */
export async function readEventsStored(pool: Pool, slotName: string): Promise<number> {
  const result = await pool.query<{ events: number }>(
    'SELECT events_stored AS events FROM sync_capture_state WHERE slot_name = $1',
    [slotName],
  );
  return result.rows[0]?.events ?? 0;
}
