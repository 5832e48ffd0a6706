import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { prng } from './support/fuzz.ts';
import { createTenant, startTestServer, type TestServer } from './support/http.ts';

const SQLISH = [
  "'; DROP TABLE students; --",
  "Robert'); DELETE FROM tenants;--",
  '$1::uuid',
  "\\x00' OR 1=1",
];

function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

/**
 * Bodies that must all be refused: each is broken in at least one way the protocol says is a 4xx
 * (wrong envelope types, deep nesting, huge strings in bad places, prototype-pollution keys).
 */
function hostileBody(index: number, tenantId: string): string {
  const random = prng(index);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const good = {
    id: randomUUID(),
    tenantId,
    entityType: 'STUDENT',
    entityId: randomUUID(),
    operation: 'CREATE',
    payload: { firstName: pick(SQLISH), lastName: 'X' },
    localVersion: 0,
    createdAt: new Date().toISOString(),
    attemptCount: 0,
  };
  const breakers: (() => unknown)[] = [
    () => ({ clientId: 'x', events: [{ ...good, id: pick([1, null, 'x', '', {}, [], pick(SQLISH)]) }] }),
    () => ({ clientId: 'x', events: [{ ...good, entityId: pick([42, true, 'ABC', pick(SQLISH)]) }] }),
    () => ({ clientId: 'x', events: [{ ...good, operation: pick(['create', 'UPSERT', 1, null, '']) }] }),
    () => ({ clientId: 'x', events: [{ ...good, payload: pick([null, 'str', 12, [1], true]) }] }),
    () => ({ clientId: 'x', events: [{ ...good, localVersion: pick([-1, 1.5, 'abc', null, {}, '1e3']) }] }),
    () => ({ clientId: pick([null, 12, '', {}, []]), events: [good] }),
    () => ({ clientId: 'x', events: pick([null, {}, 'events', 7]) }),
    () => pick([null, 1, 'x', true, [], [good]]),
    () => ({ clientId: 'x', events: [good, nested(Math.floor(random() * 4000) + 100)] }),
    () => ({ clientId: 'x', events: [{ ...good, id: 'x'.repeat(5 * 1024 * 1024) }] }),
    () =>
      JSON.parse(
        `{"clientId":"x","events":[{"__proto__":{"polluted":true},"id":${JSON.stringify(good.id)}}]}`,
      ),
    () => ({ clientId: 'x', events: [{ ...good, createdAt: { $gt: '' } }] }),
    () => ({ clientId: 'x', events: [{ ...good, attemptCount: 'many' }] }),
  ];
  const body = pick(breakers)();
  const text = JSON.stringify(body);
  // A share of the bodies is not even JSON.
  return random() < 0.1 ? text.slice(0, Math.max(1, Math.floor(text.length * random()))) + '}{' : text;
}

describe('hostile upload bodies', () => {
  let db: TestDatabase;
  let server: TestServer;
  let tenant: string;
  let token: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.pool);
    tenant = await createTenant(db.pool);
    token = await server.token(tenant);
  });
  afterAll(async () => {
    await server.close();
    await db.drop();
  });

  it('1 000 generated malformed bodies each get a 4xx with a code; nothing is applied; the server stays healthy', async () => {
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      const response = await server.post('/api/sync/up', hostileBody(i, tenant), { token });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect(response.status, `body #${i}`).toBeGreaterThanOrEqual(400);
      expect(response.status, `body #${i}`).toBeLessThan(500);
      expect((response.body as { code?: string }).code, `body #${i}`).toMatch(/^[A-Z][A-Z_]+$/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const applied = await db.pool.query('SELECT count(*)::int AS n FROM students');
    expect(applied.rows[0].n).toBe(0);
    const results = await db.pool.query('SELECT count(*)::int AS n FROM sync_upload_results');
    expect(results.rows[0].n).toBe(0);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it('SQL-looking strings in a valid payload are stored verbatim', async () => {
    const events = SQLISH.map((text) => ({
      id: randomUUID(),
      tenantId: tenant,
      entityType: 'STUDENT',
      entityId: randomUUID(),
      operation: 'CREATE',
      payload: { firstName: text, lastName: text, notes: `${text} ${'é'.repeat(10)}` },
      localVersion: 0,
      createdAt: new Date().toISOString(),
      attemptCount: 0,
    }));
    const response = await server.post('/api/sync/up', { clientId: 'x', events }, { token });
    expect(response.status).toBe(200);
    const rows = await db.pool.query<{ first_name: string; notes: string }>(
      'SELECT first_name, notes FROM students WHERE id = ANY($1)',
      [events.map((e) => e.entityId)],
    );
    expect(rows.rows.map((r) => r.first_name).sort()).toEqual([...SQLISH].sort());
    const tenants = await db.pool.query('SELECT count(*)::int AS n FROM tenants');
    expect(tenants.rows[0].n).toBe(1);
  });
});
