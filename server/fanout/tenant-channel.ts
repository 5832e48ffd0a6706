import type { CursorPosition } from '../log/cursor.ts';
import { checkPosition } from '../log/tenant-log.ts';
import { assert } from '../../shared/asserts.ts';
import type { BatchChange } from '../log/committed-batch.ts';
import { ChangeBatch } from './batch.ts';
import type { JoinOutcome, Subscriber } from './subscriber.ts';
import type { TenantTailRead } from './tail-read.ts';

/**
 * One tenant's subscribers on this node and the hub's tail of its log.
 *
 * Invariants: every live subscriber's position equals `tail`, so a batch read from `tail` is exactly what
 * each of them misses and is sent to them as is; a parked subscriber is ahead of `tail` and takes the part
 * of a batch past its position. `tail` is only ever set from the hub's own reads (the tenant's last
 * visible change, or the log's floor), never from a desk's cursor: a desk behind it is therefore always
 * behind a change (or floor) it will see on its next read, so reading on always brings it up to the tail.
 */
export class TenantChannel {
  /** The position up to which the hub has read this tenant's log; null until the hub has read it. */
  tail: CursorPosition | null = null;
  /**
   * The log id up to which the hub knows every change of this tenant (its last read's snapshot, or the
   * last batch capture handed over); -1 when unknown (no tail).
   */
  coveredTo = -1;
  /** The last id of a batch handed over that named this tenant and was not pushed to it (-1: none). */
  missedThrough = -1;
  readonly live = new Set<Subscriber>();
  /** Ahead of the tail, or waiting for the hub's first read of the tenant. */
  readonly parked = new Set<Subscriber>();
  /** Sent back to read on from their own cursor; they join again soon, so the tail is kept for them. */
  readonly catchingUp = new Set<Subscriber>();
  /** Every subscriber of the tenant on this node, whatever its state (for stats and lag). */
  readonly all = new Set<Subscriber>();

  constructor(readonly tenantId: string) {}

  /** Whether the hub has a read to make: a first one for waiting subscribers, or the next for followers. */
  get wanted(): boolean {
    if (this.tail === null) return this.parked.size > 0;
    return this.live.size > 0 || this.parked.size > 0 || this.catchingUp.size > 0;
  }

  get empty(): boolean {
    return this.all.size === 0;
  }

  add(subscriber: Subscriber): void {
    this.all.add(subscriber);
  }

  remove(subscriber: Subscriber): void {
    this.all.delete(subscriber);
    this.drop(subscriber);
  }

  /** Takes a subscriber out of the hub's feed (paused or closing). */
  drop(subscriber: Subscriber): void {
    this.live.delete(subscriber);
    this.parked.delete(subscriber);
    this.catchingUp.delete(subscriber);
    // Nobody follows the tail any more: forget it rather than keep reading for nobody.
    if (this.live.size === 0 && this.parked.size === 0 && this.catchingUp.size === 0) this.#forgetTail();
  }

  /**
   * A subscriber that read the log up to its position asks to go live. `needsRead` is set when the hub
   * must read this tenant now (a first read, or a parked subscriber waits for it).
   */
  join(subscriber: Subscriber): { outcome: JoinOutcome; needsRead: boolean } {
    this.catchingUp.delete(subscriber);
    const tail = this.tail;
    if (tail === null) {
      this.parked.add(subscriber);
      return { outcome: 'parked', needsRead: true };
    }
    // A desk behind the tail is reading on already: it only needs to be told.
    const outcome = this.#place(subscriber, tail, false);
    return { outcome, needsRead: outcome === 'parked' };
  }

  /**
   * Applies what the hub read. Returns false when the read is stale (the tail moved or was reset meanwhile)
   * and must be redone.
   */
  apply(read: TenantTailRead): boolean {
    const tail = this.tail;
    if (read.after === null) {
      if (tail !== null) return false;
      this.#start(read);
      return true;
    }
    if (tail === null || tail.epoch !== read.after.epoch || tail.eventId !== read.after.eventId) return false;
    try {
      checkPosition(tail, read.state);
    } catch {
      this.#reset(read);
      return true;
    }
    const last = read.changes.at(-1);
    // A read cut short knows the tenant's log only up to its last change.
    this.coveredTo = read.hasMore && last !== undefined ? last.id : read.visibleEnd;
    if (last !== undefined) this.#offer(tail, read.changes);
    return true;
  }

  /**
   * Changes that follow the tail directly (a batch capture handed over, the hub knowing the tenant's log up
   * to `afterId`), offered like a read's; the tenant's log is then known up to `coveredTo`.
   */
  extend(changes: readonly BatchChange[], coveredTo: number): void {
    const tail = this.tail;
    assert(tail !== null && changes.length > 0, 'extend() follows a tail with changes');
    this.coveredTo = coveredTo;
    this.#offer(tail, changes);
  }

  #offer(tail: CursorPosition, changes: readonly BatchChange[]): void {
    const batch = new ChangeBatch(this.tenantId, tail.epoch, tail.eventId, changes.at(-1)!.id, changes);
    for (const subscriber of this.live) {
      // A live subscriber is always at the tail (invariant); one that is not reads on by itself.
      if (subscriber.position.eventId !== batch.fromId || subscriber.position.epoch !== batch.epoch) {
        this.#demote(subscriber);
      } else if (!subscriber.offer(batch)) {
        this.live.delete(subscriber);
      }
    }
    for (const subscriber of this.parked) {
      const at = subscriber.position;
      if (at.epoch !== batch.epoch || at.eventId > batch.toId) continue;
      this.parked.delete(subscriber);
      if (at.eventId === batch.toId || subscriber.offer(batch)) this.live.add(subscriber);
    }
    this.tail = { epoch: batch.epoch, eventId: batch.toId };
    if (!this.wanted) this.#forgetTail();
  }

  #forgetTail(): void {
    this.tail = null;
    this.coveredTo = -1;
  }

  /** The hub's first read of the tenant: the tail is its last visible change (or the floor, if above). */
  #start(read: TenantTailRead): void {
    const tail = { epoch: read.state.epoch, eventId: Math.max(read.state.tailId, read.state.floorId) };
    this.tail = tail;
    this.coveredTo = read.visibleEnd;
    for (const subscriber of [...this.parked]) {
      this.parked.delete(subscriber);
      this.#place(subscriber, tail, true);
    }
    if (!this.wanted) this.#forgetTail();
  }

  #place(subscriber: Subscriber, tail: CursorPosition, demote: boolean): JoinOutcome {
    const at = subscriber.position;
    if (at.epoch === tail.epoch && at.eventId === tail.eventId) {
      this.live.add(subscriber);
      return 'live';
    }
    if (at.epoch === tail.epoch && at.eventId > tail.eventId) {
      // The hub has not read that far yet (or the desk's cursor points past this tenant's changes): it
      // waits for the batch that covers its position.
      this.parked.add(subscriber);
      return 'parked';
    }
    // Behind the tail, or in another epoch: its own next read brings it up, or tells it to resync.
    if (demote) this.#demote(subscriber);
    else this.catchingUp.add(subscriber);
    return 'behind';
  }

  /**
   * The log can no longer serve the tail (a new epoch, or pruned past it): subscribers whose own position
   * is no longer served resync; the others read on by themselves and join again.
   */
  #reset(read: TenantTailRead): void {
    const followers = [...this.live, ...this.parked];
    this.live.clear();
    this.parked.clear();
    this.catchingUp.clear();
    this.#forgetTail();
    for (const subscriber of followers) {
      let served = true;
      try {
        checkPosition(subscriber.position, read.state);
      } catch {
        served = false;
      }
      if (served) subscriber.demote();
      else subscriber.resync();
    }
  }

  #demote(subscriber: Subscriber): void {
    this.live.delete(subscriber);
    this.parked.delete(subscriber);
    this.catchingUp.add(subscriber);
    subscriber.demote();
  }
}
