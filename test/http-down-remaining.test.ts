import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDownResponseSchema } from '../shared/protocol.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { createTenant, insertEvents, startTestServer, type TestServer } from './support/http.ts';

describe('/api/sync/down countRemaining: catch-up progress N of M', () => {
  let db: TestDatabase;
  let server: TestServer;
  let tenant: string;
  let token: string;

  const down = async (body: Record<string, unknown>) => {
    const response = await server.post('/api/sync/down', { clientId: 'desk-n-of-m', ...body }, { token });
    expect(response.status, response.text).toBe(200);
    return syncDownResponseSchema.parse(response.body);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.pool);
    tenant = await createTenant(db.pool);
    token = await server.token(tenant);
    await insertEvents(db.pool, { tenantId: tenant, count: 250, entityType: 'STUDENT' });
    await insertEvents(db.pool, { tenantId: tenant, count: 50, entityType: 'TEACHER' });
    // Another tenant's changes are never counted.
    await insertEvents(db.pool, { tenantId: await createTenant(db.pool), count: 40 });
  });
  afterAll(async () => {
    await server.close();
    await db.drop();
  });

  it('counts the changes after the returned cursor, of the types asked, and only when asked', async () => {
    const first = await down({ limit: 100, countRemaining: true });
    expect(first.changes).toHaveLength(100);
    expect(first.remaining).toBe(200);
    const students = await down({ limit: 100, countRemaining: true, entityTypes: ['STUDENT'] });
    expect(students.remaining).toBe(150);
    const plain = await down({ limit: 100 });
    expect(plain).not.toHaveProperty('remaining');

    // Paging on: N received + remaining stays the total; the last page has none left.
    let received = first.changes.length;
    let cursor = first.cursor;
    for (;;) {
      const page = await down({ cursor, limit: 120, countRemaining: true });
      received += page.changes.length;
      expect(received + (page.remaining ?? -1)).toBe(300);
      cursor = page.cursor;
      if (!page.hasMore) {
        expect(page.remaining).toBe(0);
        break;
      }
    }
    expect(received).toBe(300);
  });

  it('a page cut short by its byte budget still counts everything after it', async () => {
    const budgeted = await startTestServer(db.pool, { limits: { pageMaxBytes: 16 * 1024 } });
    try {
      const response = await budgeted.post(
        '/api/sync/down',
        { clientId: 'desk-n-of-m', limit: 1000, countRemaining: true },
        { token },
      );
      const page = syncDownResponseSchema.parse(response.body);
      expect(page.hasMore).toBe(true);
      expect(page.changes.length).toBeLessThan(300);
      expect(page.changes.length + (page.remaining ?? 0)).toBe(300);
    } finally {
      await budgeted.close();
    }
  });
});
