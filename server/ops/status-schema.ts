import { z } from 'zod';

/**
 * What `sync-admin status --json` prints and `GET /api/admin/replication` answers: one reading of the
 * database, so both report the same facts. Byte counts are numbers (WAL distances stay far below 2^53);
 * LSNs are Postgres' text form ('16/B374D848'); times are ISO 8601.
 */
export const replicationStatusSchema = z.object({
  checkedAt: z.string(),
  database: z.object({
    name: z.string(),
    /** The schema the entity tables are looked for in (the connection's current_schema()). */
    schema: z.string(),
    serverVersion: z.string(),
    walLevel: z.string(),
    /** max_slot_wal_keep_size as Postgres prints it; '-1' means a slot may retain WAL without limit. */
    maxSlotWalKeepSize: z.string(),
    currentWalLsn: z.string(),
  }),
  slot: z.object({
    name: z.string(),
    exists: z.boolean(),
    /** The database the slot decodes; a slot of the same name in another database is not ours. */
    database: z.string().nullable(),
    plugin: z.string().nullable(),
    active: z.boolean(),
    activePid: z.number().int().nullable(),
    /** reserved | extended | unreserved | lost (null when the slot does not exist). */
    walStatus: z.string().nullable(),
    invalidationReason: z.string().nullable(),
    restartLsn: z.string().nullable(),
    confirmedFlushLsn: z.string().nullable(),
    /** WAL kept for the slot: current WAL position minus restart_lsn. */
    retainedBytes: z.number().nullable(),
    /** Decoded but not yet confirmed by capture: current WAL position minus confirmed_flush_lsn. */
    lagBytes: z.number().nullable(),
    /** How much more WAL may be written before the slot is lost (null: no limit or no slot). */
    safeWalSizeBytes: z.number().nullable(),
  }),
  publication: z.object({
    name: z.string(),
    exists: z.boolean(),
    operations: z.object({
      insert: z.boolean(),
      update: z.boolean(),
      delete: z.boolean(),
      truncate: z.boolean(),
    }),
    tables: z.array(
      z.object({
        schema: z.string(),
        name: z.string(),
        replicaIdentity: z.enum(['default', 'nothing', 'full', 'index']),
        hasTenantId: z.boolean(),
        /** The entity type capture turns this table's rows into; null: capture ignores the table. */
        entityType: z.string().nullable(),
      }),
    ),
  }),
  capture: z.object({
    /** sync_capture_state.leader: the process that last stored or took leadership. */
    leader: z.string().nullable(),
    /** Whether some session holds capture leadership of the slot right now. */
    leaderConnected: z.boolean(),
    /** Commit LSN of the last transaction whose events are stored. */
    lastLsn: z.string().nullable(),
    /** A source transaction larger than a batch, being stored in pieces: its commit LSN and changes stored. */
    largeTransaction: z.object({ commitLsn: z.string(), changesStored: z.number() }).nullable(),
    lastCommitTime: z.string().nullable(),
    eventsStored: z.number(),
    /** null when it cannot be told from one reading. */
    eventsPerSecond: z.number().nullable(),
    updatedAt: z.string().nullable(),
  }),
  log: z.object({
    rows: z.number(),
    /** false: `rows` is the planner's estimate (the table is too large to count on every status). */
    rowsExact: z.boolean(),
    bytes: z.number(),
    lastEventId: z.number(),
    /** Per tenant: the oldest cursor the log still serves and the oldest change it holds. */
    tenants: z.array(
      z.object({
        tenantId: z.string(),
        name: z.string(),
        epoch: z.number(),
        floorId: z.number(),
        oldestCursor: z.string(),
        oldestEventId: z.number().nullable(),
        oldestChangeAt: z.string().nullable(),
        /** Why the floor or epoch last moved (prune, lost slot, TRUNCATE …). */
        reason: z.string().nullable(),
        changedAt: z.string().nullable(),
      }),
    ),
  }),
  warnings: z.array(
    z.object({
      code: z.string(),
      severity: z.enum(['warning', 'critical']),
      message: z.string(),
    }),
  ),
});

export type ReplicationStatus = z.infer<typeof replicationStatusSchema>;
export type StatusWarning = ReplicationStatus['warnings'][number];
export type PublishedTable = ReplicationStatus['publication']['tables'][number];
