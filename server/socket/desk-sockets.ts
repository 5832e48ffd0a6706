import type WebSocket from 'ws';
import { CLOSE } from './close-codes.ts';
import { DeskConnection, type DeskContext, type DeskState } from './desk-connection.ts';

const EXPIRY_SWEEP_MS = 1000;

/** What the sockets of this node are doing, for tests, benchmarks and operations. */
export interface DeskSocketStats {
  connections: number;
  byState: Record<DeskState, number>;
  /** Desks that sent at least one ack, and the largest lag (in log ids) among them. */
  acking: number;
  maxLagEvents: number;
}

/** One desk as reported to operations. */
export interface DeskReport {
  tenantId: string;
  clientId: string;
  state: DeskState;
  eventId: number;
  ackedEventId: number | null;
  lagEvents: number | null;
}

/**
 * Every desk socket of one server: accepts them, pings them, closes those whose token expired or was
 * revoked, and closes them all on shutdown. Sweeps over all connections rather than timers for each (a
 * timer is some hundred bytes per idle desk): a peer that has not answered (pong or message) for three
 * ping sweeps is dropped.
 */
export class DeskSockets {
  readonly #connections = new Set<DeskConnection>();
  /** The authenticated sockets of each tenant, against limits.socketsPerTenant. */
  readonly #byTenant = new Map<string, Set<DeskConnection>>();
  readonly #ctx: DeskContext;
  readonly #sweep: NodeJS.Timeout;
  readonly #expirySweep: NodeJS.Timeout;
  #closing = false;

  constructor(ctx: Omit<DeskContext, 'admit' | 'closed'>) {
    this.#ctx = {
      ...ctx,
      admit: (connection, tenantId) => this.#admit(connection, tenantId),
      closed: (connection) => this.#closed(connection),
    };
    this.#sweep = setInterval(() => this.#ping(), ctx.rules.intervals.wsPingMs).unref();
    // Tokens expire to the second: one sweep for every socket rather than a timer each.
    this.#expirySweep = setInterval(() => this.#expire(), EXPIRY_SWEEP_MS).unref();
  }

  accept(ws: WebSocket, token: string | null): void {
    if (this.#closing) {
      ws.close(CLOSE.GOING_AWAY, 'server shutting down');
      return;
    }
    this.#connections.add(new DeskConnection(this.#ctx, ws, token));
  }

  get stats(): DeskSocketStats {
    const byState: Record<DeskState, number> = { hello: 0, paging: 0, live: 0, paused: 0, closed: 0 };
    let acking = 0;
    let maxLagEvents = 0;
    for (const connection of this.#connections) {
      byState[connection.state]++;
      const lag = connection.lagEvents;
      if (lag === null) continue;
      acking++;
      maxLagEvents = Math.max(maxLagEvents, lag);
    }
    return { connections: this.#connections.size, byState, acking, maxLagEvents };
  }

  desks(): DeskReport[] {
    return [...this.#connections].map((c) => ({
      tenantId: c.tenantId,
      clientId: c.clientId,
      state: c.state,
      eventId: c.position.eventId,
      ackedEventId: c.ackedEventId,
      lagEvents: c.lagEvents,
    }));
  }

  /** Closes every socket with 1001 and waits (at most the close grace) until they are gone. */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweep);
    clearInterval(this.#expirySweep);
    const gone = [...this.#connections].map(
      (connection) =>
        new Promise<void>((resolve) => {
          if (connection.ws.readyState === connection.ws.CLOSED) resolve();
          else connection.ws.once('close', () => resolve());
          connection.close(CLOSE.GOING_AWAY, 'server shutting down');
        }),
    );
    await Promise.all(gone);
  }

  #admit(connection: DeskConnection, tenantId: string): boolean {
    let sockets = this.#byTenant.get(tenantId);
    if (sockets === undefined) {
      sockets = new Set();
      this.#byTenant.set(tenantId, sockets);
    }
    if (sockets.size >= this.#ctx.rules.limits.socketsPerTenant) return false;
    sockets.add(connection);
    return true;
  }

  #closed(connection: DeskConnection): void {
    this.#connections.delete(connection);
    const sockets = this.#byTenant.get(connection.tenantId);
    if (sockets?.delete(connection) === true && sockets.size === 0)
      this.#byTenant.delete(connection.tenantId);
  }

  /** Closes 4401 the sockets whose token expired, or was revoked on any node (as this node last read). */
  #expire(): void {
    const now = Date.now();
    const revocations = this.#ctx.authenticator.revocations;
    for (const connection of this.#connections) {
      if (connection.expiresAt <= now) connection.expire();
      else if (connection.tokenId !== null && revocations.isRevoked(connection.tokenId)) connection.revoke();
    }
  }

  #ping(): void {
    for (const connection of this.#connections) {
      if (connection.missedPings >= 3) {
        connection.ws.terminate();
        continue;
      }
      connection.missedPings++;
      if (connection.ws.readyState === connection.ws.OPEN) connection.ws.ping();
    }
  }
}
