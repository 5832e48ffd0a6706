import type { EntityType } from '../../shared/entities.ts';
import type { CursorPosition } from '../log/cursor.ts';
import type { ChangeBatch } from './batch.ts';

/**
 * What the hub needs from one desk connection. The hub never reads the log for a subscriber: it offers the
 * batches it read once for the tenant, and a subscriber that cannot take one goes back to reading from its
 * own cursor.
 */
export interface Subscriber {
  readonly tenantId: string;
  /** null: every type the rules serve unfiltered (the shared message); else the types, deduplicated. */
  readonly entityTypes: readonly EntityType[] | null;
  /** Identifies the filter: subscribers with equal keys get the very same message bytes. */
  readonly filterKey: string;
  /** The position the desk has been sent up to; it persists the cursor of this position. */
  readonly position: CursorPosition;
  /**
   * Sends the batch's changes after the subscriber's position and moves the position to the batch's end.
   * Returns false, sending nothing, when the desk's socket buffer is over its limit: the desk is then
   * paused and will resume from its own cursor (the hub drops it from the live set).
   */
  offer(batch: ChangeBatch): boolean;
  /** The hub lost track of this subscriber (its channel was reset): read on from the own cursor. */
  demote(): void;
  /** The log no longer covers this subscriber's position: tell the desk to resync and close. */
  resync(): void;
}

/** Where a subscriber stands after asking to go live. */
export type JoinOutcome =
  /** Caught up with the tenant's tail on this node: batches come from the hub from now on. */
  | 'live'
  /** Ahead of the hub (the hub has not read the newest events yet): live once the hub reaches it. */
  | 'parked'
  /** Behind the hub's tail: read the log on from the own cursor, then ask again. */
  | 'behind';
