import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.ts';
import { assert } from '../../shared/asserts.ts';
import { bumpAllEpochs } from '../log/epoch.ts';
import type { CommittedBatch } from '../log/committed-batch.ts';
import { encodeNotification, notificationAround, SYNC_EVENTS_CHANNEL } from '../log/notification.ts';
import { Columns, committedBatch, emptyBatch } from './stored-rows.ts';
import type { CapturedTransaction } from './transactions.ts';

/**
 * How far capture has stored: every transaction committed at or below `lsn`, and, while a transaction
 * too large for one batch is being stored in pieces, the first `partialChanges` changes of the one
 * committed at `partialLsn`.
 */
export interface CaptureProgress {
  lsn: string;
  partialLsn: string | null;
  partialChanges: number;
}

/** What one committed batch stored. */
export interface StoredBatch {
  /** Tenants with new events; every tenant when `all` (a TRUNCATE bumped every epoch). */
  tenantIds: string[];
  all: boolean;
  lastEventId: number;
  events: number;
  progress: CaptureProgress;
  /** The batch for this process's push path; null after a TRUNCATE (every tenant reads the log again). */
  committed: CommittedBatch | null;
}

/** Another capture stored progress this one did not expect: it is no longer the only writer. */
export class CaptureFencedError extends Error {
  readonly code = 'CAPTURE_FENCED';
  constructor(slotName: string, expected: CaptureProgress) {
    const at =
      expected.partialLsn === null
        ? expected.lsn
        : `${expected.lsn} (+${expected.partialChanges} of ${expected.partialLsn})`;
    super(`capture progress of slot ${slotName} moved past ${at}: another capture is writing`);
    this.name = 'CaptureFencedError';
  }
}

type Step = { kind: 'rows'; columns: Columns } | { kind: 'truncate'; tables: string[] };

// COPY, in the rows' order, which is commit order: ids are assigned as the rows arrive. About a third
// cheaper for Postgres than an INSERT … SELECT over the same rows as arrays (measured: 160 vs 215 ms per
// 20 000 rows), and capture's single writer is what bounds its throughput.
// The history fields (changes, edit time, user, decision) are columns of the same row: one COPY, exactly
// once like the log (see 010_history_in_events.sql).
const COPY_EVENTS = `COPY sync_events (tenant_id, entity_type, entity_id, operation, payload, server_version,
  commit_lsn, xid, modified_at, origin_client_id, origin_outbox_event_id, payload_bytes, changes, edited_at,
  origin_user_id, decision) FROM STDIN`;
/** The last sync_events id this session drew, as text. */
const LAST_ID_SQL = `currval(pg_get_serial_sequence('sync_events', 'id'))::text`;
/** Rows per chunk written to the COPY stream. */
const COPY_CHUNK_ROWS = 1_000;

/**
 * The batch's first UPDATE: it moves the progress row, and only if it still holds the LSN this capture
 * last stored, so a capture that lost leadership without noticing cannot store anything twice. The row's
 * lock also makes capture the log's only writer while the batch is stored: nothing else enters the log
 * between the batch's snapshot and its commit (CommittedBatch.afterId relies on it).
 * $1 slot, $2–$4 the progress expected, $5–$7 the new one, $8 last commit time, $9 events, $10 leader.
 */
const FENCE_SQL = `UPDATE sync_capture_state
    SET last_commit_lsn = $5, partial_commit_lsn = $6, partial_changes = $7,
        last_commit_time = coalesce($8, last_commit_time), events_stored = events_stored + $9,
        leader = $10, updated_at = now()
  WHERE slot_name = $1 AND last_commit_lsn = $2
    AND partial_commit_lsn IS NOT DISTINCT FROM $3::pg_lsn AND partial_changes = $4`;

/** The log's last visible id and the epochs of tenants `$11`, in the statement's snapshot. */
const LOG_STATE_SQL = `(SELECT coalesce(max(id), 0) FROM sync_events)::text AS after_id,
  (SELECT json_object_agg(tenant_id, epoch) FROM sync_tenant_log WHERE tenant_id = ANY($11::uuid[]))::text AS epochs`;

/**
 * A batch of at most SINGLE_STATEMENT_ROWS rows in ONE statement (its own transaction): the fence, the
 * rows (from arrays, ids drawn in the arrays' order, which is commit order; a DELETE's missing version
 * drawn after it, in row order), the log state, and the notification with the last id drawn. One round
 * trip instead of six is most of what a change waits for between its commit and a desk (issue 14).
 * $12… the columns of the rows, $28 the channel, $29 the notification before the id, $30 after it.
 */
const STORE_BATCH_SQL = `
WITH fence AS (${FENCE_SQL} RETURNING 1),
added AS (
  INSERT INTO sync_events (tenant_id, entity_type, entity_id, operation, payload, server_version, commit_lsn,
    xid, modified_at, origin_client_id, origin_outbox_event_id, payload_bytes, changes, edited_at,
    origin_user_id, decision)
  SELECT r.tenant_id::uuid, r.entity_type, r.entity_id::uuid, r.operation, r.payload::jsonb,
    coalesce(r.server_version::bigint, nextval('server_version_seq')), r.commit_lsn::pg_lsn, r.xid::bigint,
    r.modified_at::timestamptz, r.origin_client_id, r.origin_outbox_event_id::uuid, r.payload_bytes,
    r.changes::json, r.edited_at::timestamptz, r.origin_user_id, r.decision
  FROM unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
    $19::text[], $20::text[], $21::text[], $22::text[], $23::integer[], $24::text[], $25::text[], $26::text[],
    $27::text[])
    AS r(tenant_id, entity_type, entity_id, operation, payload, server_version, commit_lsn, xid, modified_at,
      origin_client_id, origin_outbox_event_id, payload_bytes, changes, edited_at, origin_user_id, decision)
  WHERE EXISTS (SELECT FROM fence)
  RETURNING id, server_version
)
SELECT (SELECT count(*) FROM fence)::integer AS fenced,
  ${LOG_STATE_SQL},
  (SELECT min(id) FROM added)::text AS first_id,
  (SELECT max(id) FROM added)::text AS last_id,
  (SELECT array_agg(server_version ORDER BY id)::text[] FROM added) AS versions,
  (SELECT pg_notify($28, $29 || max(id)::text || $30) FROM added HAVING count(*) > 0) AS notified`;

/** Batches up to this many rows are stored by STORE_BATCH_SQL; larger ones by COPY, in a transaction. */
const SINGLE_STATEMENT_ROWS = 256;

/**
 * Stores batches of committed transactions: their events, the capture progress and the notification, in
 * one Postgres transaction, fenced by FENCE_SQL. A batch without a TRUNCATE is handed back as a
 * CommittedBatch for the push path of this process.
 */
export class BatchWriter {
  constructor(
    private readonly log: Logger,
    private readonly options: { pool: Pool; slotName: string; identity: string },
  ) {}

  async write(batch: readonly CapturedTransaction[], expected: CaptureProgress): Promise<StoredBatch> {
    const last = batch.at(-1);
    assert(last !== undefined, 'a batch holds at least one transaction');
    const complete = batch.findLast((txn) => !txn.partial);
    const progress: CaptureProgress = {
      lsn: complete?.commitLsn ?? expected.lsn,
      partialLsn: last.partial ? last.commitLsn : null,
      partialChanges: last.partial ? last.changesThrough : 0,
    };
    const { steps, events, tenantIds, truncated } = plan(batch);
    const fence = [
      this.options.slotName,
      expected.lsn,
      expected.partialLsn,
      expected.partialChanges,
      progress.lsn,
      progress.partialLsn,
      progress.partialChanges,
      complete?.commitTime ?? null,
      events,
      this.options.identity,
    ];
    const tenants = [...tenantIds];
    const summary = { tenantIds: tenants, events, progress };
    if (truncated) {
      const lastEventId = await this.#writeSteps(steps, fence, expected);
      return { ...summary, all: true, lastEventId, committed: null };
    }
    const columns = steps[0]?.kind === 'rows' ? steps[0].columns : new Columns();
    const stored =
      columns.length <= SINGLE_STATEMENT_ROWS
        ? await this.#writeOneStatement(columns, tenants, fence, expected)
        : await this.#writeCopy(columns, tenants, fence, expected);
    return { ...summary, all: false, lastEventId: stored.lastId, committed: stored.committed };
  }

  async #writeOneStatement(
    columns: Columns,
    tenants: string[],
    fence: unknown[],
    expected: CaptureProgress,
  ): Promise<Stored> {
    const rows = columns.rowValues(jsonbTextBytes);
    const result = await this.options.pool.query<{
      fenced: number;
      after_id: string;
      epochs: string | null;
      first_id: string | null;
      last_id: string | null;
      versions: string[] | null;
    }>({
      name: 'capture-store-batch',
      text: STORE_BATCH_SQL,
      values: [
        ...fence,
        tenants,
        ...rows,
        SYNC_EVENTS_CHANNEL,
        ...notificationAround(tenants, this.options.identity),
      ],
    });
    const row = result.rows[0];
    assert(row !== undefined, 'the batch statement returns one row');
    if (row.fenced !== 1) throw new CaptureFencedError(this.options.slotName, expected);
    const afterId = Number(row.after_id);
    if (row.last_id === null) return { lastId: afterId, committed: emptyBatch(afterId) };
    const firstId = Number(row.first_id);
    const lastId = Number(row.last_id);
    return {
      lastId,
      committed: committedBatch(
        { afterId, firstId, lastId },
        tenants,
        row.epochs,
        columns,
        row.versions ?? [],
      ),
    };
  }

  async #writeCopy(
    columns: Columns,
    tenants: string[],
    fence: unknown[],
    expected: CaptureProgress,
  ): Promise<Stored> {
    return inTransaction(this.options.pool, async (client) => {
      const state = await client.query<{ after_id: string; epochs: string | null }>(
        `${FENCE_SQL} RETURNING ${LOG_STATE_SQL}`,
        [...fence, tenants],
      );
      const row = state.rows[0];
      if (row === undefined) throw new CaptureFencedError(this.options.slotName, expected);
      const afterId = Number(row.after_id);
      const versions = await drawVersions(client, columns.serverVersion);
      await copyEvents(client, columns, versions);
      const [before, after] = notificationAround(tenants, this.options.identity);
      const ids = await client.query<{ first_id: string; last_id: string }>(
        `SELECT (SELECT min(id) FROM sync_events WHERE id > $1)::text AS first_id, ${LAST_ID_SQL} AS last_id,
                pg_notify($2, $3 || ${LAST_ID_SQL} || $4)`,
        [afterId, SYNC_EVENTS_CHANNEL, before, after],
      );
      const firstId = Number(ids.rows[0]?.first_id);
      const lastId = Number(ids.rows[0]?.last_id);
      return {
        lastId,
        committed: committedBatch({ afterId, firstId, lastId }, tenants, row.epochs, columns, versions),
      };
    });
  }

  /** A batch with a TRUNCATE: rows and epoch bumps in their order, then a notification for every tenant. */
  async #writeSteps(steps: readonly Step[], fence: unknown[], expected: CaptureProgress): Promise<number> {
    return inTransaction(this.options.pool, async (client) => {
      const fenced = await client.query(FENCE_SQL, fence);
      if (fenced.rowCount !== 1) throw new CaptureFencedError(this.options.slotName, expected);
      let lastEventId = 0;
      for (const step of steps) {
        if (step.kind === 'rows') lastEventId = await insertEvents(client, step.columns);
        else await this.truncate(client, step.tables);
      }
      if (lastEventId === 0) lastEventId = await logEnd(client);
      await client.query('SELECT pg_notify($1, $2)', [
        SYNC_EVENTS_CHANNEL,
        encodeNotification('all', lastEventId),
      ]);
      return lastEventId;
    });
  }

  private async truncate(client: PoolClient, tables: string[]): Promise<void> {
    const reason = `TRUNCATE ${tables.join(', ')}`;
    const tenants = await bumpAllEpochs(client, reason);
    this.log.warn({ tables, tenants }, 'entity table truncated: every tenant resyncs from a snapshot');
  }
}

/** What a write stored: its last id, and the batch for this process's push path (null: read it back). */
interface Stored {
  lastId: number;
  committed: CommittedBatch | null;
}

function plan(batch: readonly CapturedTransaction[]): {
  steps: Step[];
  events: number;
  tenantIds: Set<string>;
  truncated: boolean;
} {
  const steps: Step[] = [];
  const tenantIds = new Set<string>();
  let columns = new Columns();
  let events = 0;
  const flush = (open: CapturedTransaction): void => {
    if (columns.length === 0) return;
    steps.push({ kind: 'rows', columns });
    columns = new Columns();
    columns.startTransaction(open);
  };
  for (const txn of batch) {
    columns.startTransaction(txn);
    let nextTruncate = 0;
    for (let i = 0; i <= txn.rows.length; i++) {
      // A TRUNCATE splits the rows around it, so the new epoch's floor falls exactly between them.
      while (txn.truncates[nextTruncate]?.beforeRow === i) {
        flush(txn);
        steps.push({ kind: 'truncate', tables: txn.truncates[nextTruncate]!.tables });
        nextTruncate++;
      }
      const row = txn.rows[i];
      if (row === undefined) break;
      columns.push(row, txn.origins[i] ?? null);
      tenantIds.add(row.tenantId);
      events++;
    }
  }
  if (columns.length > 0) steps.push({ kind: 'rows', columns });
  return { steps, events, tenantIds, truncated: steps.some((s) => s.kind === 'truncate') };
}

/**
 * Stores the rows with one COPY; returns the last id given. A DELETE by an upload carries the version the
 * upload drew; any other DELETE's version is drawn here, after the deleting transaction committed, so it is
 * greater than any version the row had (in row order, as before).
 */
async function insertEvents(client: PoolClient, columns: Columns): Promise<number> {
  await copyEvents(client, columns, await drawVersions(client, columns.serverVersion));
  const last = await client.query<{ last_id: string }>(`SELECT ${LAST_ID_SQL} AS last_id`);
  return Number(last.rows[0]?.last_id ?? 0);
}

async function copyEvents(client: PoolClient, columns: Columns, versions: readonly string[]): Promise<void> {
  await pipeline(Readable.from(copyText(columns, versions)), client.query(copyFrom(COPY_EVENTS)));
}

/** The rows' server versions, those still to draw (null) drawn from the sequence, in row order. */
async function drawVersions(client: PoolClient, given: readonly (string | null)[]): Promise<string[]> {
  const missing = given.reduce((n, version) => n + (version === null ? 1 : 0), 0);
  if (missing === 0) return given as string[];
  const drawn = await client.query<{ v: string }>(
    `SELECT nextval('server_version_seq')::text AS v FROM generate_series(1, $1::integer)`,
    [missing],
  );
  const fresh = drawn.rows.map((r) => BigInt(r.v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let next = 0;
  return given.map((version) => version ?? String(fresh[next++]));
}

/** COPY text format, a chunk of lines at a time. */
function* copyText(columns: Columns, versions: readonly string[]): Generator<string> {
  let chunk = '';
  for (let i = 0; i < columns.length; i++) {
    const t = columns.txn[i]! - 1;
    const origin = columns.origin[i] ?? null;
    chunk +=
      `${columns.tenantId[i]}\t${columns.entityType[i]}\t${columns.entityId[i]}\t${columns.operation[i]}\t` +
      `${copyField(columns.payload[i]!)}\t${versions[i]}\t${columns.commitLsn[t]}\t${columns.xid[t]}\t` +
      `${columns.commitTime[t]}\t${nullable(origin?.clientId)}\t${nullable(origin?.outboxEventId)}\t` +
      `${jsonbTextBytes(columns.payload[i]!)}\t${nullable(columns.changes[i])}\t${nullable(origin?.editedAt)}\t` +
      `${nullable(origin?.userId)}\t${nullable(origin?.decision)}\n`;
    if ((i + 1) % COPY_CHUNK_ROWS === 0) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

/**
 * The bytes of a payload as a page ships it (jsonb's text form, migration 008 payload_bytes), from the
 * compact JSON text capture built: its UTF-8 bytes plus the space jsonb writes after every ':' and ','
 * outside strings. Counted here rather than by Postgres (octet_length(payload::text) for every stored row
 * cost capture's single writer a tenth of its throughput); a page's envelope allowance absorbs what jsonb
 * writes otherwise (a number's form).
 */
export function jsonbTextBytes(compact: string): number {
  let separators = 0;
  let inString = false;
  for (let i = 0; i < compact.length; i++) {
    const c = compact.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === COLON || c === COMMA) separators++;
  }
  return Buffer.byteLength(compact, 'utf8') + separators;
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A text value as COPY's text format reads it back unchanged. */
function copyField(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : value;
}

function nullable(value: string | null | undefined): string {
  return value === null || value === undefined ? '\\N' : copyField(value);
}

async function logEnd(client: PoolClient): Promise<number> {
  const result = await client.query<{ last_id: number | string }>(
    'SELECT coalesce(max(id), 0) AS last_id FROM sync_events',
  );
  return Number(result.rows[0]?.last_id ?? 0);
}
