import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { EntityType } from '../../shared/entities.ts';
import type { SyncRules } from '../config/rules.ts';
import type { Pool } from '../db/pool.ts';
import { SyncError } from '../errors.ts';
import type { ChangeBatch } from '../fanout/batch.ts';
import { changesMessage, serverMessage } from '../fanout/messages.ts';
import type { Subscriber } from '../fanout/subscriber.ts';
import type { TenantHub } from '../fanout/tenant-hub.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { readCatchUp } from '../log/catch-up.ts';
import { decodeCursor, encodeCursor, type CursorPosition } from '../log/cursor.ts';
import { CLOSE } from './close-codes.ts';
import { authenticateSocket, checkHello, parseClientMessage, type SocketAuth } from './handshake.ts';
import type { DeskSocketOptions } from './options.ts';

/** What every connection of one server shares (one object, so that a connection stays small). */
export interface DeskContext {
  log: Logger;
  hub: TenantHub;
  pool: Pool;
  rules: SyncRules;
  authenticator: Authenticator;
  options: DeskSocketOptions;
  /** Counts an authenticated socket against its tenant's cap; false: the tenant has its fill on this node. */
  admit(connection: DeskConnection, tenantId: string): boolean;
  closed(connection: DeskConnection): void;
}

/**
 * - `hello`: authenticating and waiting for the hello;
 * - `paging`: reading the log from its own cursor (the backlog, or after a pause);
 * - `live`: fed by the hub (live or parked in its tenant channel);
 * - `paused`: its socket buffer is full; nothing is queued for it until it drains;
 * - `closed`.
 */
export type DeskState = 'hello' | 'paging' | 'live' | 'paused' | 'closed';

const TEXT = { binary: false } as const;
/** Messages a desk may send before its hello has been handled (it may not wait for authentication). */
const MAX_EARLY_MESSAGES = 8;
/** Bad messages after the hello (invalid JSON, unknown type, a second hello …) before the socket is closed. */
export const MAX_BAD_MESSAGES = 5;

/**
 * One desk's socket. Invariant: the desk receives its tenant's changes after the hello cursor in log
 * order, each exactly once, every message carrying the cursor that covers it — whether they come from its
 * own paging reads or from the hub's shared batches, because it is only ever fed by one of the two, and
 * the hub only feeds it batches that start exactly at its position.
 */
export class DeskConnection implements Subscriber {
  state: DeskState = 'hello';
  tenantId = '';
  clientId = '';
  entityTypes: readonly EntityType[] | null = null;
  filterKey = '*';
  readonly position: CursorPosition = { epoch: 0, eventId: 0 };
  /** The last cursor the desk acknowledged (an event id), or null. */
  ackedEventId: number | null = null;
  /** Ping intervals without any sign of life from the peer. */
  missedPings = 0;
  /** When the token stops being valid (ms since the epoch); the sockets' sweep closes the desk then. */
  expiresAt = Infinity;
  /** The token's `jti` when it is a revocable desk token; the sockets' sweep closes the desk once revoked. */
  tokenId: string | null = null;
  /** Whether `position` comes from a cursor (false: a null hello cursor not yet read from). */
  #positioned = false;
  #early: { data: WebSocket.RawData; isBinary: boolean }[] | null = [];
  #paging = false;
  #badMessages = 0;
  #pausedAt = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: DeskContext,
    readonly ws: WebSocket,
    token: string | null,
  ) {
    ws.on('message', (data, isBinary) => this.#received(data, isBinary));
    ws.on('pong', () => {
      this.missedPings = 0;
    });
    ws.once('close', () => this.#closed());
    this.#timer = setTimeout(
      () => this.#fail(CLOSE.BAD_HELLO, 'BAD_REQUEST', 'no hello received in time'),
      ctx.rules.intervals.helloTimeoutMs,
    );
    authenticateSocket(ctx.authenticator, token).then(
      (auth) => this.#authenticated(auth),
      (error: unknown) => this.#failWith(error),
    );
  }

  /** Events between the hub's (or the desk's own) position and what the desk acknowledged. */
  get lagEvents(): number | null {
    if (this.ackedEventId === null) return null;
    const tail = this.ctx.hub.tailOf(this.tenantId) ?? this.position.eventId;
    return Math.max(0, Math.max(tail, this.position.eventId) - this.ackedEventId);
  }

  /** Closes with `code` after sending nothing more; the socket is destroyed if the peer does not answer. */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.#leave();
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), this.ctx.options.closeGraceMs).unref();
  }

  // Subscriber

  offer(batch: ChangeBatch): boolean {
    if (this.state !== 'live') return false;
    if (this.ws.bufferedAmount > this.ctx.options.pauseAboveBytes) {
      this.#pause();
      return false;
    }
    this.ws.send(batch.messageFor(this.position.eventId, this.filterKey, this.entityTypes), TEXT);
    this.position.epoch = batch.epoch;
    this.position.eventId = batch.toId;
    return true;
  }

  demote(): void {
    if (this.state !== 'live') return;
    this.state = 'paging';
    void this.#page();
  }

  resync(): void {
    if (this.state === 'closed') return;
    this.#send(serverMessage({ type: 'resync', code: 'RESYNC_REQUIRED' }));
    this.close(CLOSE.RESYNC_REQUIRED, 'RESYNC_REQUIRED');
  }

  // Handshake

  #received(data: WebSocket.RawData, isBinary: boolean): void {
    this.missedPings = 0;
    if (this.#early !== null) {
      if (this.#early.length >= MAX_EARLY_MESSAGES) {
        this.#fail(CLOSE.BAD_HELLO, 'BAD_REQUEST', 'too many messages before the hello was handled');
      } else this.#early.push({ data, isBinary });
      return;
    }
    this.#handle(data, isBinary);
  }

  #authenticated(auth: SocketAuth): void {
    if (this.state === 'closed') return;
    if (!this.ctx.admit(this, auth.tenantId)) {
      this.#fail(
        CLOSE.TRY_AGAIN_LATER,
        'RATE_LIMITED',
        `this tenant has ${this.ctx.rules.limits.socketsPerTenant} sockets open on this server; retry later`,
      );
      return;
    }
    this.tenantId = auth.tenantId;
    this.expiresAt = auth.expiresAt;
    this.tokenId = auth.tokenId;
    const early = this.#early ?? [];
    this.#early = null;
    for (const message of early) this.#handle(message.data, message.isBinary);
  }

  #handle(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.state === 'closed') return;
    try {
      const message = parseClientMessage(data, isBinary);
      if (this.state === 'hello') {
        this.#hello(checkHello(message, this.ctx.rules));
      } else if (message.type === 'ack') {
        const acked = decodeCursor(message.cursor);
        this.ackedEventId = Math.max(this.ackedEventId ?? 0, acked.eventId);
      } else {
        throw new SyncError('BAD_REQUEST', 'hello was already received');
      }
    } catch (error) {
      // Anything but a protocol error is this server's fault: it closes this socket, never the process.
      if (this.state === 'hello' || !(error instanceof SyncError)) this.#failWith(error);
      else this.#badMessage(error);
    }
  }

  /**
   * Answers a bad message with an error, unless the desk has sent too many of them or does not read the
   * answers (they would pile up in its socket buffer): then it is closed 4400.
   */
  #badMessage(error: SyncError): void {
    this.#badMessages++;
    if (this.#badMessages >= MAX_BAD_MESSAGES) {
      this.#fail(CLOSE.BAD_HELLO, error.code, `${MAX_BAD_MESSAGES} bad messages: ${error.message}`);
    } else if (this.ws.bufferedAmount > this.ctx.options.pauseAboveBytes) {
      this.close(CLOSE.BAD_HELLO, error.code);
    } else {
      this.#send(serverMessage({ type: 'error', code: error.code, message: error.message }));
    }
  }

  #hello(hello: ReturnType<typeof checkHello>): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.clientId = hello.clientId;
    this.entityTypes = hello.entityTypes;
    this.filterKey = hello.filterKey;
    if (hello.position !== null) {
      this.position.epoch = hello.position.epoch;
      this.position.eventId = hello.position.eventId;
      this.#positioned = true;
    }
    this.ctx.hub.subscribe(this);
    // A desk that is exactly at the tail the hub follows goes live without reading anything.
    if (this.#positioned && this.ctx.hub.tailOf(this.tenantId) === this.position.eventId) {
      this.state = 'live';
      if (this.ctx.hub.join(this) !== 'behind') return;
    }
    this.state = 'paging';
    void this.#page();
  }

  /** The token has expired: 4401. */
  expire(): void {
    this.#fail(CLOSE.UNAUTHORIZED, 'TOKEN_EXPIRED', 'the token has expired');
  }

  /** The token was revoked (sync-admin desk revoke): 4401 with reason TOKEN_REVOKED. */
  revoke(): void {
    this.#fail(CLOSE.UNAUTHORIZED, 'TOKEN_REVOKED', 'this desk token was revoked by an administrator');
  }

  // Delivery

  /** Reads the log from the desk's own position and sends it, page by page, until it can go live. */
  async #page(): Promise<void> {
    if (this.#paging) return;
    this.#paging = true;
    try {
      while (this.state === 'paging') {
        if (this.ws.bufferedAmount > this.ctx.options.pauseAboveBytes) {
          this.#pause();
          return;
        }
        const cursor = this.#positioned ? encodeCursor(this.position) : null;
        const page = await readCatchUp(this.ctx.pool, {
          tenantId: this.tenantId,
          cursor,
          lastSyncTimestamp: null,
          entityTypes: this.entityTypes,
          limit: this.ctx.options.pageLimit,
          maxBytes: this.ctx.rules.limits.pageMaxBytes,
          hiddenFields: this.ctx.rules.hiddenFields,
        });
        if (this.state !== 'paging') return;
        if (page.count > 0 || page.cursor !== cursor)
          this.#send(changesMessage(page.changesJson, page.cursor));
        const at = decodeCursor(page.cursor);
        this.position.epoch = at.epoch;
        this.position.eventId = at.eventId;
        this.#positioned = true;
        if (page.hasMore) continue;
        this.state = 'live';
        if (this.ctx.hub.join(this) !== 'behind') return;
        this.state = 'paging';
      }
    } catch (error) {
      if (this.state === 'closed') return;
      if (error instanceof SyncError && error.code === 'RESYNC_REQUIRED') this.resync();
      else if (error instanceof SyncError) this.#fail(CLOSE.BAD_HELLO, error.code, error.message);
      else {
        this.ctx.log.error(
          { err: error, tenantId: this.tenantId, clientId: this.clientId },
          'sync socket read failed',
        );
        this.#fail(CLOSE.INTERNAL, 'INTERNAL', 'the server could not read the log; reconnect shortly');
      }
    } finally {
      this.#paging = false;
    }
  }

  #pause(): void {
    if (this.state === 'paused' || this.state === 'closed') return;
    this.ctx.hub.leave(this);
    this.state = 'paused';
    this.#pausedAt = Date.now();
    this.#timer = setInterval(() => this.#checkDrain(), this.ctx.options.drainCheckMs);
  }

  #checkDrain(): void {
    if (this.state !== 'paused') return;
    if (this.ws.bufferedAmount <= this.ctx.options.resumeBelowBytes) {
      this.#clearTimer();
      this.state = 'paging';
      void this.#page();
    } else if (Date.now() - this.#pausedAt > this.ctx.options.slowCloseMs) {
      this.ctx.log.info(
        { tenantId: this.tenantId, clientId: this.clientId },
        'sync socket too slow; closing it',
      );
      this.close(CLOSE.TOO_SLOW, 'too slow: reconnect to catch up');
    }
  }

  #send(message: Buffer | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(message, TEXT);
  }

  // Ending

  #failWith(error: unknown): void {
    if (error instanceof SyncError) {
      const code =
        error.statusCode === 401 || error.statusCode === 403 ? CLOSE.UNAUTHORIZED : CLOSE.BAD_HELLO;
      this.#fail(code, error.code, error.message);
    } else {
      this.ctx.log.error({ err: error, tenantId: this.tenantId }, 'sync socket failed');
      this.#fail(CLOSE.INTERNAL, 'INTERNAL', 'the server could not accept the socket; reconnect shortly');
    }
  }

  /** Sends an error message, then closes with `code` (the error code as the close reason). */
  #fail(code: number, errorCode: string, message: string): void {
    if (this.state === 'closed') return;
    this.#send(serverMessage({ type: 'error', code: errorCode, message }));
    this.close(code, errorCode);
  }

  /** Stops everything this connection does; the socket itself is closed by the caller. */
  #leave(): void {
    this.state = 'closed';
    this.#early = null;
    this.#clearTimer();
    if (this.tenantId !== '') this.ctx.hub.unsubscribe(this);
  }

  #closed(): void {
    this.#leave();
    this.ctx.closed(this);
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      clearInterval(this.#timer);
    }
    this.#timer = null;
  }
}
