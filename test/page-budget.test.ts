import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANGES_PAGE_SQL } from '../server/log/read.ts';
import {
  snapshotResponseSchema,
  syncDownResponseSchema,
  type Change,
  type SnapshotResponse,
  type SyncDownResponse,
} from '../shared/protocol.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { createTenant, startTestServer, type TestServer } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { appendEvents, tenantLog } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

/** The page byte budget of these tests: a few padded changes per page. */
const BUDGET = 8192;

function changeBytes(changes: readonly Change[]): number {
  return changes.reduce((n, change) => n + Buffer.byteLength(JSON.stringify(change)), 0);
}

/** A page is within the budget, or is one change alone. */
function expectWithinBudget(changes: readonly Change[], label: string): void {
  if (changes.length > 1) expect(changeBytes(changes), label).toBeLessThanOrEqual(BUDGET);
}

describe('page byte budget (limits.pageMaxBytes)', () => {
  let db: TestDatabase;
  let server: TestServer;
  let push: PushServer;
  const desks: TestDesk[] = [];

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    server = await startTestServer(db.pool, { limits: { pageMaxBytes: BUDGET } });
    push = await startPushServer(db, { rules: { limits: { pageMaxBytes: BUDGET } } });
  });
  afterAll(async () => {
    for (const desk of desks) desk.cut();
    await push?.close();
    await server?.close();
    await db?.drop();
  });

  /** Small changes, padded ones (3 KB), and one change of 20 KB, larger than the budget on its own. */
  async function seedMixedLog(tenantId: string): Promise<void> {
    await appendEvents(db.pool, [
      { tenantId, count: 7 },
      { tenantId, count: 9, padBytes: 3000 },
      { tenantId, count: 1, padBytes: 20_000, entityType: 'TEACHER' },
      { tenantId, count: 12 },
      { tenantId, count: 5, padBytes: 3000, entityType: 'TEACHER' },
      { tenantId, count: 2, padBytes: 20_000 },
    ]);
  }

  async function down(tenantId: string, body: Record<string, unknown>): Promise<SyncDownResponse> {
    const token = await server.token(tenantId);
    const response = await server.post('/api/sync/down', { clientId: 'desk-1', ...body }, { token });
    expect(response.status, response.text).toBe(200);
    return syncDownResponseSchema.parse(response.body);
  }

  async function drainDown(tenantId: string, body: Record<string, unknown> = {}) {
    const pages: SyncDownResponse[] = [];
    let cursor: string | null = null;
    for (;;) {
      const page = await down(tenantId, { ...body, cursor });
      pages.push(page);
      cursor = page.cursor;
      if (!page.hasMore) return pages;
    }
  }

  it('/down: pages stay within the budget, a page cut by bytes says hasMore, a change over the budget goes alone, and every change arrives once in order', async () => {
    const tenant = await createTenant(db.pool);
    await seedMixedLog(tenant);
    const pages = await drainDown(tenant, { limit: 1000 });
    const ids = pages.flatMap((p) => p.changes.map((c) => c.id));
    expect(ids).toEqual(await tenantLog(db.pool, tenant));
    pages.forEach((page, i) => expectWithinBudget(page.changes, `page ${i}`));
    // Cut by bytes, not by the limit of 1 000: several pages, each but the last with hasMore.
    expect(pages.length).toBeGreaterThan(5);
    expect(pages.slice(0, -1).every((p) => p.hasMore && p.changes.length < 1000)).toBe(true);
    const alone = pages.filter((p) => changeBytes(p.changes) > BUDGET);
    expect(alone.map((p) => p.changes.length)).toEqual([1, 1, 1]);
    // Pages are as full as the budget allows: the next change would not have fitted. The server counts each
    // change exactly as it writes it (read.ts changeBytesSql); what this re-serialisation drops is a comma
    // and the spaces of jsonb's text form, a few dozen bytes a change (an upper bound of 256 a change, as
    // before, left ~90 bytes a change unused).
    for (let i = 0; i + 1 < pages.length; i++) {
      const next = pages[i + 1]!.changes[0]!;
      const sent = [...pages[i]!.changes, next];
      expect(changeBytes(sent), `page ${i}`).toBeGreaterThan(BUDGET - 48 * sent.length);
    }
  });

  it('/down: the limit still holds with small changes, and a filtered read counts only the changes it sends', async () => {
    const tenant = await createTenant(db.pool);
    await seedMixedLog(tenant);
    const limited = await down(tenant, { limit: 5 });
    expect(limited.changes).toHaveLength(5);
    expect(limited.hasMore).toBe(true);

    const teachers = await drainDown(tenant, { entityTypes: ['TEACHER'] });
    expect(teachers.flatMap((p) => p.changes.map((c) => c.id))).toEqual(
      await tenantLog(db.pool, tenant, ['TEACHER']),
    );
    teachers.forEach((page, i) => expectWithinBudget(page.changes, `teacher page ${i}`));
    // 20 KB alone, then the five 3 KB teachers in pages of two: the students' bytes did not count.
    expect(teachers.map((p) => p.changes.length)).toEqual([1, 2, 2, 1]);
  });

  it('/down with lastSyncTimestamp finds its start by index probes, reading no table in full', async () => {
    const tenants = [await createTenant(db.pool), await createTenant(db.pool)];
    for (let i = 0; i < 10; i++) {
      await appendEvents(
        db.pool,
        tenants.map((tenantId) => ({ tenantId, count: 500 })),
      );
    }
    await db.pool.query('ANALYZE sync_events');
    const since = new Date(Date.now() - 60_000).toISOString();
    const plan = await db.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${CHANGES_PAGE_SQL}`, [
      tenants[0],
      null,
      null,
      since,
      null,
      1000,
      null,
      BUDGET,
      false,
    ]);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    // A binary search over the tenant's ids (SINCE_START_SQL): index probes, no scan of the table.
    expect(text).toMatch(/Recursive Union/);
    expect(text).not.toMatch(/Seq Scan on sync_events/);
    // And the read answers from there: every change of the tenant, its first page within the budget.
    const page = await down(tenants[0]!, { lastSyncTimestamp: since });
    expect(page.changes[0]?.id).toBe((await tenantLog(db.pool, tenants[0]!))[0]);
    expectWithinBudget(page.changes, 'since page');
  });

  it('/snapshot: pages stay within the budget across types, a row over the budget goes alone, hasMore when cut by bytes, every row once', async () => {
    const tenant = await createTenant(db.pool);
    const insert = (table: string, count: number, pad: number) =>
      db.pool.query(
        `INSERT INTO ${table} (tenant_id, id, first_name, last_name)
         SELECT $1, gen_random_uuid(), 'F' || g, 'L' || repeat('x', $3::integer) FROM generate_series(1, $2::integer) g`,
        [tenant, count, pad],
      );
    await insert('students', 6, 10);
    await insert('students', 8, 3000);
    await insert('students', 1, 20_000);
    await insert('teachers', 4, 10);
    await insert('teachers', 3, 3000);
    await insert('teachers', 1, 20_000);
    const token = await server.token(tenant);
    const pages: SnapshotResponse[] = [];
    let pageToken: string | undefined;
    for (;;) {
      const response = await server.post(
        '/api/sync/snapshot',
        { clientId: 'desk-1', limit: 1000, ...(pageToken === undefined ? {} : { pageToken }) },
        { token },
      );
      expect(response.status, response.text).toBe(200);
      const page = snapshotResponseSchema.parse(response.body);
      pages.push(page);
      if (!page.hasMore) break;
      pageToken = page.pageToken;
      expect(pageToken).toBeDefined();
    }
    const got = pages.flatMap((p) => p.changes.map((c) => `${c.entityType}:${c.entityId}`));
    expect(new Set(got).size).toBe(23);
    expect(got).toHaveLength(23);
    pages.forEach((page, i) => expectWithinBudget(page.changes, `snapshot page ${i}`));
    expect(pages.length).toBeGreaterThan(4);
    expect(pages.filter((p) => changeBytes(p.changes) > BUDGET).map((p) => p.changes.length)).toEqual([1, 1]);
    // Every page repeats the first page's cursor.
    expect(new Set(pages.map((p) => p.cursor)).size).toBe(1);
  });

  it('the socket backlog and the hub’s live reads are cut by the budget: every change once, in order', async () => {
    const a = await createTenant(db.pool);
    const b = await createTenant(db.pool);
    await seedMixedLog(a);
    const deskA = TestDesk.open(push.wsUrl, { token: await push.token(a) });
    const deskB = TestDesk.open(push.wsUrl, { token: await push.token(b) });
    desks.push(deskA, deskB);
    const backlog = (await tenantLog(db.pool, a)).length;
    await deskA.waitForChanges(backlog);
    await deskB.opened;
    // Live: one stored batch of both tenants, far over the budget, read by the hub in several rounds.
    await appendEvents(db.pool, [
      { tenantId: a, count: 10, padBytes: 3000 },
      { tenantId: b, count: 10, padBytes: 3000 },
      { tenantId: a, count: 1, padBytes: 20_000 },
      { tenantId: b, count: 20 },
    ]);
    await deskA.waitForChanges(backlog + 11);
    await deskB.waitForChanges(30);
    expect(deskA.ids).toEqual(await tenantLog(db.pool, a));
    expect(deskB.ids).toEqual(await tenantLog(db.pool, b));
    for (const desk of [deskA, deskB]) {
      const messages = desk.messages.filter((m) => m.type === 'changes');
      messages.forEach((m, i) => expectWithinBudget(m.changes, `message ${i}`));
      expect(messages.length).toBeGreaterThan(3);
    }
  });
});
