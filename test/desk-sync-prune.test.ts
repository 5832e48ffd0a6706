import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeskSync } from '../desktop/sync/index.ts';
import { silentLog } from './support/db.ts';
import { tempDesk } from './desk-store.fixtures.ts';

describe('desk outbox retention', () => {
  let desk: ReturnType<typeof tempDesk>;
  beforeEach(() => {
    desk = tempDesk();
  });
  afterEach(() => desk.cleanup());

  it('DeskSync prunes acknowledged outbox events older than keepAcknowledgedMs, even while offline', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const store = desk.open(undefined, { now: () => now });
    const old = store.create('SCHOOL_LEVEL', { name: 'Old', rank: 1 });
    store.applyUploadResponse({
      acknowledged: [
        { outboxEventId: old.outboxEventId, serverEventId: '1', entityId: old.entity.id, serverVersion: 1 },
      ],
      conflicts: [],
      rejected: [],
      syncTimestamp: now.toISOString(),
    });
    const pending = store.create('SCHOOL_LEVEL', { name: 'Waiting', rank: 2 });
    now = new Date('2026-03-01T00:00:00Z');
    // No server answers on this port: the desk is offline, and retention still applies.
    const sync = new DeskSync(silentLog, {
      store,
      serverUrl: 'http://127.0.0.1:9',
      token: 'offline',
      options: { keepAcknowledgedMs: 30 * 86_400_000, socket: false, checksum: false },
    });
    const running = sync.run();
    try {
      expect(store.outboxCounts().ACKNOWLEDGED).toBe(0);
      expect(store.pendingBatch().map((e) => e.id)).toEqual([pending.outboxEventId]);
    } finally {
      await sync.stop();
      await running;
    }
  });
});
