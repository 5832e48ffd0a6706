import type { EntityType } from '../../shared/entities.ts';

/** Rows of one type that changed; `source` says whether a local edit or the server caused it. */
export interface ChangedEvent {
  type: EntityType;
  /** null: too many to list (a snapshot cleared the type); reload the whole type. */
  ids: string[] | null;
  source: 'local' | 'server';
}

export interface StoreEvents {
  changed: ChangedEvent;
  /** The outbox moved (new event, status change): pendingCount() / conflicts() may differ. */
  outbox: { reason: 'edit' | 'sent' | 'response' | 'resolution' | 'resume' | 'prune' | 'dismiss' };
  /** A cursor became durable (its transaction committed). */
  committed: { cursor: string };
  /** A failure outside any caller's stack (a deferred commit, a throwing listener). */
  error: Error;
}

type Listener<T> = (event: T) => void;

/**
 * A tiny typed emitter. Listeners run once the transaction that caused the event is over (for a deferred
 * catch-up page: its savepoint, the rows being visible on this connection before the group commits).
 */
export class StoreEmitter {
  private readonly listeners = new Map<keyof StoreEvents, Set<Listener<never>>>();

  on<K extends keyof StoreEvents>(name: K, listener: Listener<StoreEvents[K]>): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    const listeners = set;
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  has(name: keyof StoreEvents): boolean {
    return (this.listeners.get(name)?.size ?? 0) > 0;
  }

  emit<K extends keyof StoreEvents>(name: K, event: StoreEvents[K]): void {
    const set = this.listeners.get(name) as Set<Listener<StoreEvents[K]>> | undefined;
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (err) {
        this.report(name, err);
      }
    }
  }

  /** A listener's failure must neither undo the store's committed work nor vanish. */
  private report(name: keyof StoreEvents, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err), { cause: err });
    if (name !== 'error' && this.has('error')) {
      this.emit('error', error);
      return;
    }
    queueMicrotask(() => {
      throw error;
    });
  }
}
