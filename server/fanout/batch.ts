import type { EntityType } from '../../shared/entities.ts';
import type { BatchChange } from '../log/committed-batch.ts';
import { encodeCursor } from '../log/cursor.ts';
import { changesMessage } from './messages.ts';

/**
 * The changes of one tenant's log in (fromId, toId] of one epoch, read once by the hub. The message for a
 * filter is built on first use and shared: every subscriber with the same filter gets the same Buffer, and
 * a filtered subscriber still gets a message (maybe with no change) carrying the cursor of `toId`.
 */
export class ChangeBatch {
  readonly cursor: string;
  readonly #messages = new Map<string, Buffer>();

  constructor(
    readonly tenantId: string,
    readonly epoch: number,
    readonly fromId: number,
    readonly toId: number,
    /** In id order, all in (fromId, toId]; the last one's id is toId. */
    readonly changes: readonly BatchChange[],
  ) {
    this.cursor = encodeCursor({ epoch, eventId: toId });
  }

  /** How many distinct messages were built (one per filter in use, plus suffixes): for tests and stats. */
  get builtMessages(): number {
    return this.#messages.size;
  }

  /**
   * The message for a subscriber at `afterId` (fromId ≤ afterId < toId) with `types` (null: every type).
   * Messages from fromId are cached per filter key; a suffix (a subscriber that joined ahead of the hub) is
   * built on demand.
   */
  messageFor(afterId: number, filterKey: string, types: readonly EntityType[] | null): Buffer {
    const key = afterId === this.fromId ? filterKey : `${filterKey}@${afterId}`;
    let message = this.#messages.get(key);
    if (message === undefined) {
      message = changesMessage(this.#json(afterId, types), this.cursor);
      if (afterId === this.fromId) this.#messages.set(key, message);
    }
    return message;
  }

  #json(afterId: number, types: readonly EntityType[] | null): string {
    const wanted = types === null ? null : new Set<string>(types);
    let json = '[';
    let first = true;
    for (const change of this.changes) {
      if (change.id <= afterId) continue;
      if (wanted !== null && !wanted.has(change.entityType)) continue;
      if (!first) json += ',';
      json += change.json;
      first = false;
    }
    return `${json}]`;
  }
}
