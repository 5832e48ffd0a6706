import type { BatchChange, CommittedBatch } from '../log/committed-batch.ts';
import { spliceChange } from '../log/read.ts';
import type { ChangeRow } from './decode.ts';
import type { ChangeOrigin } from './origin.ts';
import type { CapturedTransaction } from './transactions.ts';

/**
 * sync_events columns as parallel arrays, stored by one COPY or one INSERT. What is the same for a whole
 * transaction (commit LSN, xid, commit time) is kept once per transaction and each row points at its
 * transaction.
 */
export class Columns {
  readonly payload: string[] = [];
  readonly tenantId: string[] = [];
  readonly entityType: string[] = [];
  readonly entityId: string[] = [];
  readonly operation: string[] = [];
  readonly serverVersion: (string | null)[] = [];
  /** 1-based index into the per-transaction arrays below. */
  readonly txn: number[] = [];
  /** The upload each row came from (its desk, and history's user, edit time and decision); null: another writer. */
  readonly origin: (ChangeOrigin | null)[] = [];
  /** History's field changes; null for every row when history is off. */
  readonly changes: (string | null)[] = [];
  readonly commitLsn: string[] = [];
  readonly xid: number[] = [];
  readonly commitTime: string[] = [];

  get length(): number {
    return this.tenantId.length;
  }

  startTransaction(txn: CapturedTransaction): void {
    this.commitLsn.push(txn.commitLsn);
    this.xid.push(txn.xid);
    this.commitTime.push(txn.commitTime);
  }

  push(row: ChangeRow, origin: ChangeOrigin | null): void {
    this.payload.push(row.payload);
    this.tenantId.push(row.tenantId);
    this.entityType.push(row.entityType);
    this.entityId.push(row.entityId);
    this.operation.push(row.operation);
    this.serverVersion.push(row.serverVersion);
    this.txn.push(this.commitLsn.length);
    this.origin.push(origin);
    this.changes.push(row.changes);
  }

  /** The commit time of row `i`. */
  commitTimeOf(i: number): string {
    return this.commitTime[this.txnOf(i)]!;
  }

  /** The index of row `i`'s transaction in the per-transaction arrays. */
  private txnOf(i: number): number {
    return this.txn[i]! - 1;
  }

  /**
   * Every column of the rows as one array each, in the order of sync_events' columns in writer.ts
   * STORE_BATCH_SQL (`payloadBytes` counts each payload as a page ships it).
   */
  rowValues(payloadBytes: (payload: string) => number): unknown[][] {
    const origin = this.origin;
    return [
      this.tenantId,
      this.entityType,
      this.entityId,
      this.operation,
      this.payload,
      this.serverVersion,
      this.txn.map((_, i) => this.commitLsn[this.txnOf(i)]),
      this.txn.map((_, i) => String(this.xid[this.txnOf(i)])),
      this.txn.map((_, i) => this.commitTime[this.txnOf(i)]),
      origin.map((o) => o?.clientId ?? null),
      origin.map((o) => o?.outboxEventId ?? null),
      this.payload.map(payloadBytes),
      this.changes,
      origin.map((o) => o?.editedAt ?? null),
      origin.map((o) => o?.userId ?? null),
      origin.map((o) => o?.decision ?? null),
    ];
  }
}

/**
 * The batch as the push path takes it, or null when its ids are not the run `firstId…lastId` one per
 * row (then the push path reads the batch back, as other nodes do).
 */
export function committedBatch(
  ids: { afterId: number; firstId: number; lastId: number },
  tenantIds: readonly string[],
  epochs: string | null,
  columns: Columns,
  versions: readonly string[],
): CommittedBatch | null {
  const { afterId, firstId, lastId } = ids;
  const contiguous =
    Number.isSafeInteger(firstId) && firstId > afterId && lastId - firstId + 1 === columns.length;
  if (!contiguous || versions.length !== columns.length) return null;
  return new StoredRows(ids, tenantIds, parseEpochs(epochs), columns, versions);
}

/** A batch that stored no row (the empty last piece of a large transaction). */
export function emptyBatch(afterId: number): CommittedBatch {
  return new StoredRows({ afterId, firstId: afterId + 1, lastId: afterId }, [], {}, new Columns(), []);
}

function parseEpochs(epochs: string | null): Record<string, number> {
  return epochs === null ? {} : (JSON.parse(epochs) as Record<string, number>);
}

class StoredRows implements CommittedBatch {
  readonly afterId: number;
  readonly lastId: number;
  private readonly firstId: number;
  /** Row indexes per tenant, in row (id) order; built when the push path first asks (a desk follows). */
  #rowsOf: Map<string, number[]> | null = null;

  constructor(
    ids: { afterId: number; firstId: number; lastId: number },
    /** The tenants of the rows, in the order of their first row (the writer's plan has them). */
    readonly tenantIds: readonly string[],
    private readonly epochs: Record<string, number>,
    private readonly columns: Columns,
    private readonly versions: readonly string[],
  ) {
    this.afterId = ids.afterId;
    this.firstId = ids.firstId;
    this.lastId = ids.lastId;
  }

  epochOf(tenantId: string): number {
    return this.epochs[tenantId] ?? 0;
  }

  changesOf(tenantId: string): BatchChange[] {
    const c = this.columns;
    return (this.#rows().get(tenantId) ?? []).map((i) => {
      const id = this.firstId + i;
      const modifiedAt = c.commitTimeOf(i);
      const json = spliceChange(
        String(id),
        c.entityType[i]!,
        c.entityId[i]!,
        c.operation[i]!,
        c.payload[i]!,
        this.versions[i]!,
        modifiedAt,
      );
      return { id, entityType: c.entityType[i]!, json, modifiedAt };
    });
  }

  #rows(): Map<string, number[]> {
    if (this.#rowsOf !== null) return this.#rowsOf;
    const rowsOf = new Map<string, number[]>();
    this.columns.tenantId.forEach((tenantId, i) => {
      const rows = rowsOf.get(tenantId);
      if (rows === undefined) rowsOf.set(tenantId, [i]);
      else rows.push(i);
    });
    this.#rowsOf = rowsOf;
    return rowsOf;
  }
}
