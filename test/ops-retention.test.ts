import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSyncRules } from '../server/config/rules.ts';
import { encodeCursor } from '../server/log/cursor.ts';
import {
  PRUNE_CHUNK_ROWS,
  pruneEvents,
  RetentionService,
  summarizeHistoryIndex,
} from '../server/ops/retention.ts';
import { readHistory } from '../server/history/read.ts';
import { createTestDatabase, silentLog, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, insertEvents, startTestServer, type TestServer } from './support/http.ts';

const DAY_MS = 86_400_000;

describe('retention', () => {
  let db: TestDatabase;
  let server: TestServer;

  async function eventIds(tenantId: string): Promise<number[]> {
    const result = await db.pool.query<{ id: number }>(
      'SELECT id FROM sync_events WHERE tenant_id = $1 ORDER BY id',
      [tenantId],
    );
    return result.rows.map((r) => r.id);
  }

  async function floorOf(tenantId: string): Promise<number> {
    const result = await db.pool.query<{ floor_id: number }>(
      'SELECT floor_id FROM sync_tenant_log WHERE tenant_id = $1',
      [tenantId],
    );
    return result.rows[0]?.floor_id ?? 0;
  }

  async function down(tenantId: string, cursor: string | null): Promise<{ status: number; code?: string }> {
    const token = await server.token(tenantId, 'desk');
    const response = await server.post('/api/sync/down', { clientId: 'desk', cursor, limit: 10 }, { token });
    return {
      status: response.status,
      ...(response.status === 200 ? {} : { code: (response.body as { code: string }).code }),
    };
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.pool);
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  it('pruneEvents deletes in chunks every older change, keeps the newer, and raises the floor to the highest pruned id', async () => {
    const a = await createTenant(db.pool, 'Big school');
    const old = new Date(Date.now() - 10 * DAY_MS);
    const count = 2 * PRUNE_CHUNK_ROWS + 500;
    const oldIds = await insertEvents(db.pool, { tenantId: a, count, modifiedAt: old });
    const newIds = await insertEvents(db.pool, { tenantId: a, count: 5 });

    const result = await pruneEvents(db.pool, 7 * DAY_MS, { historyDays: 0 });
    expect(result.deleted).toBe(count);
    expect(result.tenants).toEqual([{ tenantId: a, deleted: count, floorId: oldIds.at(-1) }]);
    expect(await eventIds(a)).toEqual(newIds);
    expect(await floorOf(a)).toBe(oldIds.at(-1));
  });

  it('pruneEvents stops at the first change of a tenant newer than the cutoff: an older commit time above it waits for a later prune', async () => {
    const b = await createTenant(db.pool, 'Clock school');
    const old = new Date(Date.now() - 10 * DAY_MS);
    const oldIds = await insertEvents(db.pool, { tenantId: b, count: 3, modifiedAt: old });
    const newIds = await insertEvents(db.pool, { tenantId: b, count: 2 });
    // A commit time out of order (a clock set back): below the cutoff, but above a change that is kept.
    const stray = await insertEvents(db.pool, { tenantId: b, count: 1, modifiedAt: old });

    const result = await pruneEvents(db.pool, 7 * DAY_MS, { historyDays: 0 });
    expect(result.tenants.find((t) => t.tenantId === b)).toEqual({
      tenantId: b,
      deleted: 3,
      floorId: oldIds.at(-1),
    });
    expect(await eventIds(b)).toEqual([...newIds, ...stray]);
    // Once the changes below it are old too, it goes with them.
    await db.pool.query('UPDATE sync_events SET modified_at = $2 WHERE tenant_id = $1', [b, old]);
    await pruneEvents(db.pool, 7 * DAY_MS, { historyDays: 0 });
    expect(await eventIds(b)).toEqual([]);
    expect(await floorOf(b)).toBe(stray.at(-1));
  });

  it('the prune summarizes the record-history index, and a record is found through it in a log of 30 000 changes', async () => {
    const c = await createTenant(db.pool, 'History school');
    const record = '5f0c0000-0000-4000-8000-000000000001';
    await db.pool.query(
      `INSERT INTO sync_events (tenant_id, entity_type, entity_id, operation, payload, server_version, commit_lsn,
         xid, modified_at, changes)
       SELECT $1, 'GRADE', CASE WHEN g % 10000 = 0 THEN $2::uuid ELSE gen_random_uuid() END,
         CASE WHEN g = 10000 THEN 'CREATE' ELSE 'UPDATE' END, '{"score": 1}', nextval('server_version_seq'),
         '0/1', 1, now(), (CASE WHEN g = 10000 THEN '{}' ELSE '{"score": {"from": 1, "to": 2}}' END)::json
         FROM generate_series(1, 30000) g`,
      [c, record],
    );
    expect(await summarizeHistoryIndex(db.pool)).toBeGreaterThan(0);
    // Every full range is summarized now: a second call finds none.
    expect(await summarizeHistoryIndex(db.pool)).toBe(0);
    await db.pool.query('ANALYZE sync_events');
    const plan = await db.pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT * FROM sync_record_history WHERE entity_id = $2 AND tenant_id = $1 AND entity_type = 'GRADE'`,
      [c, record],
    );
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Bitmap Index Scan on sync_events_history_bloom/);
    expect(text).not.toMatch(/Seq Scan on sync_events/);
    const history = await readHistory(db.pool, { tenantId: c, entityType: 'GRADE', entityId: record });
    expect(history.entries.map((e) => e.operation)).toEqual(['UPDATE', 'UPDATE', 'CREATE']);
  });

  it('pruneEvents keeps the history of the changes it deletes in sync_history, except what is past historyDays', async () => {
    const d = await createTenant(db.pool, 'History school');
    await insertEvents(db.pool, { tenantId: d, count: 3, modifiedAt: new Date(Date.now() - 10 * DAY_MS) });
    await insertEvents(db.pool, { tenantId: d, count: 2, modifiedAt: new Date(Date.now() - 50 * DAY_MS) });
    // As capture stores them with history on: a CREATE's changes are read from its payload.
    await db.pool.query(`UPDATE sync_events SET changes = '{}' WHERE tenant_id = $1`, [d]);
    const entries = async () =>
      (
        await db.pool.query<{ committed_at: Date; changes: unknown }>(
          `SELECT entity_id, server_version::int, operation, committed_at, changes
             FROM sync_record_history WHERE tenant_id = $1 ORDER BY server_version`,
          [d],
        )
      ).rows;
    const before = await entries();
    expect(before).toHaveLength(5);
    expect(before[0]?.changes).toEqual({ firstName: 'Awa', lastName: 'Diallo', n: 1 });

    const result = await pruneEvents(db.pool, 7 * DAY_MS, { historyDays: 30 });
    expect(result).toMatchObject({ deleted: 5, archived: 3 });
    expect(await eventIds(d)).toEqual([]);
    const recent = before.filter((e) => e.committed_at.getTime() > Date.now() - 30 * DAY_MS);
    expect(recent).toHaveLength(3);
    expect(await entries()).toEqual(recent);
  });

  it('after a prune, /down answers 410 for a cursor below the floor and for a null cursor, and serves one at the floor', async () => {
    const b = await createTenant(db.pool, 'Desk school');
    const first = await down(b, null);
    expect(first.status).toBe(200);
    const oldIds = await insertEvents(db.pool, {
      tenantId: b,
      count: 4,
      modifiedAt: new Date(Date.now() - 3 * DAY_MS),
    });
    await insertEvents(db.pool, { tenantId: b, count: 2 });
    await pruneEvents(db.pool, DAY_MS, { historyDays: 0 });
    const cursor = (eventId: number) => encodeCursor({ epoch: 0, eventId });
    expect(await down(b, cursor(oldIds[1]!))).toEqual({ status: 410, code: 'RESYNC_REQUIRED' });
    expect(await down(b, null)).toEqual({ status: 410, code: 'RESYNC_REQUIRED' });
    expect(await down(b, cursor(oldIds.at(-1)!))).toEqual({ status: 200 });
  });

  it('the RetentionService prunes by the sync-rules retention on start and on schedule, and stops', async () => {
    const c = await createTenant(db.pool, 'Scheduled school');
    await insertEvents(db.pool, { tenantId: c, count: 3, modifiedAt: new Date(Date.now() - 31 * DAY_MS) });
    const kept = await insertEvents(db.pool, {
      tenantId: c,
      count: 2,
      modifiedAt: new Date(Date.now() - 29 * DAY_MS),
    });
    await db.pool.query(
      `INSERT INTO sync_audit (tenant_id, user_id, client_id, outbox_event_id, outcome, created_at)
       VALUES ($1, 'u', 'desk', 'e1', 'ACKNOWLEDGED', now() - interval '400 days')`,
      [c],
    );
    const rules = parseSyncRules({
      retention: { syncEventsDays: 30, syncLogDays: 30, auditDays: 365, pruneEveryMinutes: 60 },
    });
    const service = new RetentionService(silentLog, { pool: db.pool, rules });
    const running = service.run();
    await waitFor(async () => (await eventIds(c)).join() === kept.join(), { message: 'scheduled prune ran' });
    await waitFor(async () => {
      const audit = await db.pool.query('SELECT 1 FROM sync_audit WHERE tenant_id = $1', [c]);
      return audit.rowCount === 0;
    });
    await service.stop();
    await running;
  });

  it('pruneEveryMinutes 0 never prunes, and syncEventsDays 0 keeps every change', async () => {
    const d = await createTenant(db.pool, 'Keep-all school');
    const ids = await insertEvents(db.pool, {
      tenantId: d,
      count: 3,
      modifiedAt: new Date(Date.now() - 400 * DAY_MS),
    });
    const never = new RetentionService(silentLog, {
      pool: db.pool,
      rules: parseSyncRules({ retention: { pruneEveryMinutes: 0, syncEventsDays: 1 } }),
    });
    const running = never.run();
    await never.stop();
    await running;
    expect(await eventIds(d)).toEqual(ids);

    const keepAll = new RetentionService(silentLog, {
      pool: db.pool,
      rules: parseSyncRules({ retention: { syncEventsDays: 0 } }),
    });
    const pruned = await keepAll.prune();
    expect(pruned.events).toBeNull();
    expect(await eventIds(d)).toEqual(ids);
  });
});
