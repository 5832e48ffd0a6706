/** One change of a tenant's log as the push path sends it: its log id and type, and its protocol JSON text. */
export interface BatchChange {
  id: number;
  entityType: string;
  json: string;
  /** Commit time, ISO 8601 (for the push latency metric). */
  modifiedAt: string;
}

/**
 * A batch capture has just committed to `sync_events`, handed by capture to the push path of its own
 * process so that the batch need not be read back (issue 14). Capture is the log's only writer and
 * stores one batch at a time, so the log holds nothing between `afterId` and the batch's first change:
 * a follower whose reading of the log is complete up to `afterId` is exactly at the batch's start.
 */
export interface CommittedBatch {
  /** The log's last id visible when the batch was written. */
  readonly afterId: number;
  /** The batch's last id: the batch holds every change in (afterId, lastId]. */
  readonly lastId: number;
  readonly tenantIds: readonly string[];
  /** The tenant's log epoch, read in the statement that stored the batch. */
  epochOf(tenantId: string): number;
  /** The tenant's changes in the batch, in id order, hidden fields left out (built on demand). */
  changesOf(tenantId: string): readonly BatchChange[];
}
