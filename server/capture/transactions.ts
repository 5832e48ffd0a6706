import type { Logger } from 'pino';
import type { Pgoutput } from 'pg-logical-replication';
import { ChangeDecoder, type ChangeRow } from './decode.ts';
import { formatLsn, parseLsn } from '../db/lsn.ts';
import { ORIGIN_MESSAGE_PREFIX, OriginQueue, parseOrigin, type ChangeOrigin } from './origin.ts';
import { assert, must } from '../../shared/asserts.ts';

/** A TRUNCATE inside a transaction, placed before row `beforeRow` of that transaction. */
export interface CapturedTruncate {
  beforeRow: number;
  tables: string[];
}

/**
 * A committed source transaction, or a piece of one: a transaction with more rows than a batch holds is
 * handed over in pieces as it arrives, so memory stays bounded whatever its size. Every piece but the
 * last is `partial`; only the last one's commit LSN may be acknowledged.
 */
export interface CapturedTransaction {
  /** Start of the commit record, as in the Begin/Commit messages: what is stored and acknowledged. */
  commitLsn: string;
  lsn: bigint;
  xid: number;
  /** Commit time, ISO 8601 with microseconds. */
  commitTime: string;
  rows: ChangeRow[];
  /** The upload each row came from (null: another writer), parallel to `rows`. */
  origins: (ChangeOrigin | null)[];
  truncates: CapturedTruncate[];
  /** Characters of the rows' payloads (what bounds a batch's size besides its row count). */
  bytes: number;
  /** More of this transaction follows. */
  partial: boolean;
  /** Changes (row and TRUNCATE messages) of the transaction up to the end of this piece. */
  changesThrough: number;
}

interface OpenTransaction extends CapturedTransaction {
  originQueue: OriginQueue;
  /** Changes of the transaction received so far. */
  changes: number;
  /** Changes already stored by an earlier session: received again, and dropped. */
  skipChanges: number;
}

/** A transaction stored in part before a restart: its commit LSN and how many of its changes are stored. */
export interface PartialProgress {
  lsn: bigint;
  changes: number;
}

/**
 * Groups pgoutput messages into committed transactions (begin … commit) and decodes their rows. An origin
 * message names, entity by entity, the upload events whose row changes follow it in the same transaction.
 */
export class TransactionAssembler {
  private open: OpenTransaction | null = null;

  /**
   * @param piece rows and payload characters of a transaction held before they are handed over as a
   *   partial piece
   * @param resume the transaction stored in part before this session, whose stored changes are dropped
   */
  constructor(
    private readonly log: Logger,
    private readonly decoder: ChangeDecoder,
    private readonly piece: { maxRows: number; maxBytes: number },
    private readonly resume: PartialProgress | null = null,
  ) {}

  get inTransaction(): boolean {
    return this.open !== null;
  }

  /**
   * Feeds one message; returns the transaction when `message` is its commit, or a partial piece when the
   * open transaction holds a full piece and `message` brings more.
   */
  push(message: Pgoutput.Message): CapturedTransaction | null {
    switch (message.tag) {
      case 'begin':
        this.begin(message);
        return null;
      case 'insert':
      case 'update':
      case 'delete': {
        const piece = this.cutPiece();
        this.row(message);
        return piece;
      }
      case 'truncate': {
        const piece = this.cutPiece();
        this.truncate(message);
        return piece;
      }
      case 'message':
        if (message.transactional && message.prefix === ORIGIN_MESSAGE_PREFIX) this.origin(message);
        return null;
      case 'relation':
        if (message.replicaIdentity !== 'full' && this.decoder.entityTypeOf(message) !== undefined) {
          this.log.warn(
            { table: message.name, replicaIdentity: message.replicaIdentity },
            'entity table without REPLICA IDENTITY FULL: an UPDATE may miss unchanged TOASTed columns',
          );
        }
        return null;
      case 'commit':
        return this.commit(message);
      default:
        return null; // type and replication-origin messages carry nothing capture stores
    }
  }

  private begin(message: Pgoutput.MessageBegin): void {
    const open = this.open;
    assert(open === null, () => `begin of xid ${message.xid} inside open xid ${open?.xid}`);
    const lsn = parseLsn(must(message.commitLsn, () => `begin of xid ${message.xid} without commit LSN`));
    this.open = {
      // As Postgres prints it ('16/B374D848'); the library pads both halves.
      commitLsn: formatLsn(lsn),
      lsn,
      // The library reads the xid as a signed int32.
      xid: message.xid >>> 0,
      commitTime: microsToIso(message.commitTime as bigint),
      rows: [],
      origins: [],
      truncates: [],
      bytes: 0,
      partial: false,
      changesThrough: 0,
      originQueue: new OriginQueue(),
      changes: 0,
      skipChanges: this.resume?.lsn === lsn ? this.resume.changes : 0,
    };
  }

  /** Hands over the rows held so far when they fill a piece (before the next change is added). */
  private cutPiece(): CapturedTransaction | null {
    const txn = this.open;
    if (txn === null || (txn.rows.length < this.piece.maxRows && txn.bytes < this.piece.maxBytes))
      return null;
    const piece = this.take(txn, true);
    txn.bytes = 0;
    txn.rows = [];
    txn.origins = [];
    txn.truncates = [];
    return piece;
  }

  private take(txn: OpenTransaction, partial: boolean): CapturedTransaction {
    return {
      commitLsn: txn.commitLsn,
      lsn: txn.lsn,
      xid: txn.xid,
      commitTime: txn.commitTime,
      rows: txn.rows,
      origins: txn.origins,
      truncates: txn.truncates,
      bytes: txn.bytes,
      partial,
      changesThrough: txn.changes,
    };
  }

  private current(what: string): OpenTransaction {
    return must(this.open, () => `${what} outside a transaction`);
  }

  private row(message: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete): void {
    const txn = this.current(message.tag);
    // Stored by an earlier session; its origins are still taken, so the later rows keep theirs.
    const stored = txn.changes++ < txn.skipChanges;
    const rows = this.decoder.decode(message);
    if (rows.length === 0 && this.decoder.entityTypeOf(message.relation) !== undefined) {
      this.log.warn(
        { table: message.relation.name, xid: txn.xid },
        'row change without tenant_id or id: skipped',
      );
    }
    for (const row of rows) {
      const origin = txn.originQueue.take(row.entityType, row.entityId);
      // The upload drew the deletion's version when it deleted, and answered the desk with it.
      if (row.operation === 'DELETE' && origin !== null && origin.deleteVersion > 0) {
        row.serverVersion = String(origin.deleteVersion);
      }
      if (stored) continue;
      txn.bytes += row.payload.length;
      txn.rows.push(row);
      txn.origins.push(origin);
    }
  }

  private truncate(message: Pgoutput.MessageTruncate): void {
    const txn = this.current('truncate');
    if (txn.changes++ < txn.skipChanges) return;
    const tables = message.relations
      .filter((relation) => relation !== undefined && this.decoder.entityTypeOf(relation) !== undefined)
      .map((relation) => relation.name);
    if (tables.length > 0) txn.truncates.push({ beforeRow: txn.rows.length, tables });
  }

  private origin(message: Pgoutput.MessageMessage): void {
    const txn = this.current('origin message');
    const origin = parseOrigin(message.content);
    if (origin === null) this.log.warn({ xid: txn.xid }, 'origin message with invalid content: ignored');
    else txn.originQueue.add(origin);
  }

  private commit(message: Pgoutput.MessageCommit): CapturedTransaction {
    const txn = this.current('commit');
    this.open = null;
    assert(
      message.commitLsn !== null && parseLsn(message.commitLsn) === txn.lsn,
      () => `commit LSN ${message.commitLsn} does not match begin's ${txn.commitLsn}`,
    );
    return this.take(txn, false);
  }
}

/** The library gives commit times as microseconds since the Unix epoch (it adds the 2000-01-01 offset). */
export function microsToIso(micros: bigint): string {
  const millis = micros / 1000n;
  const iso = new Date(Number(millis)).toISOString(); // 'YYYY-MM-DDTHH:MM:SS.mmmZ'
  const extra = (micros % 1000n).toString().padStart(3, '0');
  return `${iso.slice(0, 23)}${extra}Z`;
}
