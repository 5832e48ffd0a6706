import type { EntityType } from '../../../shared/entities.ts';
import type {
  BridgeEvent,
  BridgeMethod,
  DeskBridge,
  EntityRecord,
  ListQuery,
  Refusal,
  RecordHistory,
  SaveResult,
  ScreenQuery,
} from '../../bridge.ts';
import type { ConflictView, ResolutionChoice } from '../../store/index.ts';
import type { SyncStatus } from '../../sync/index.ts';

/** DeskBridge in a plain browser, talking to the harness (desktop/harness/server.ts) on the page's own origin. */
export class HttpBridge implements DeskBridge {
  constructor(private readonly base = '') {}

  list(query: ListQuery): Promise<EntityRecord[]> {
    return this.call('list', [query]);
  }
  query(query: ScreenQuery): Promise<EntityRecord[]> {
    return this.call('query', [query]);
  }
  refusals(type: EntityType | null): Promise<Refusal[]> {
    return this.call('refusals', [type]);
  }
  dismissRefusal(outboxEventId: string): Promise<void> {
    return this.call('dismissRefusal', [outboxEventId]);
  }
  get(type: EntityType, id: string): Promise<EntityRecord | null> {
    return this.call('get', [type, id]);
  }
  create(type: EntityType, fields: Record<string, unknown>): Promise<SaveResult> {
    return this.call('create', [type, fields]);
  }
  update(type: EntityType, id: string, patch: Record<string, unknown>): Promise<SaveResult> {
    return this.call('update', [type, id, patch]);
  }
  remove(type: EntityType, id: string): Promise<void> {
    return this.call('remove', [type, id]);
  }
  pendingCount(): Promise<number> {
    return this.call('pendingCount', []);
  }
  conflicts(): Promise<ConflictView[]> {
    return this.call('conflicts', []);
  }
  resolve(outboxEventId: string, choice: ResolutionChoice): Promise<void> {
    return this.call('resolve', [outboxEventId, choice]);
  }
  status(): Promise<SyncStatus | null> {
    return this.call('status', []);
  }
  history(type: EntityType, id: string): Promise<RecordHistory> {
    return this.call('history', [type, id]);
  }

  subscribe(listener: (event: BridgeEvent) => void): () => void {
    const source = new EventSource(`${this.base}/bridge/events`);
    source.onmessage = (message: MessageEvent<string>) => listener(JSON.parse(message.data) as BridgeEvent);
    return () => source.close();
  }

  private async call<T>(method: BridgeMethod, args: unknown[]): Promise<T> {
    const res = await fetch(`${this.base}/bridge/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
    const body = (await res.json()) as unknown;
    if (!res.ok) {
      const message = (body as { message?: unknown } | null)?.message;
      throw new Error(typeof message === 'string' ? message : `${method} failed (${res.status})`);
    }
    return body as T;
  }
}
