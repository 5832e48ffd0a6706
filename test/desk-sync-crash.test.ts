import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeskStore } from '../desktop/store/index.ts';
import { ENTITY_TYPES } from '../shared/entities.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { deskDir } from './support/desk-client.ts';
import { FAST_SYNC } from './support/desk-client.ts';
import { DeskProcess } from './support/desk-process.ts';
import { DeskTestServer } from './support/desk-server.ts';
import { createTenant } from './support/http.ts';

describe('kill -9 of a desk', () => {
  let db: TestDatabase;
  let server: DeskTestServer;
  let dir: ReturnType<typeof deskDir>;
  const children: DeskProcess[] = [];

  const spawnDesk = (config: ConstructorParameters<typeof DeskProcess>[0]): DeskProcess => {
    const child = new DeskProcess(config);
    children.push(child);
    return child;
  };
  const settled = (child: DeskProcess) =>
    waitFor(
      () => child.status?.live === true && child.status.pending === 0 && child.status.checksum?.matched,
      {
        timeoutMs: 60_000,
        message: `desk settled (${child.stderr.slice(-500)})`,
      },
    );
  const studentsOnServer = async (tenant: string): Promise<number> =>
    Number(
      (await db.pool.query('SELECT count(*) AS n FROM students WHERE tenant_id = $1', [tenant])).rows[0].n,
    );
  const expectEqualToServer = async (path: string, tenant: string) => {
    await server.captured();
    const store = DeskStore.open(path, { tenantId: tenant });
    try {
      expect(store.checksums()).toEqual(await server.checksums(tenant, ENTITY_TYPES));
      return store.outboxCounts();
    } finally {
      store.close();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    db.pool.on('error', () => undefined);
    server = new DeskTestServer(db);
    await server.start();
    dir = deskDir();
  });
  afterAll(async () => {
    for (const child of children) await child.kill9().catch(() => undefined);
    await server?.stop();
    await db?.drop();
    dir?.remove();
  });

  it('killed in the middle of an upload, the restarted desk sends the rest: nothing applied twice, nothing lost, outbox drained', async () => {
    const tenant = await createTenant(db.pool);
    const token = await server.token(tenant);
    const path = dir.path('k1.db');
    const total = 4000;
    const options = { ...FAST_SYNC, uploadBatchSize: 50 };
    const first = spawnDesk({
      db: path,
      tenantId: tenant,
      serverUrl: server.url,
      token,
      create: total,
      options,
    });
    await waitFor(async () => (await studentsOnServer(tenant)) >= 200, { timeoutMs: 30_000, intervalMs: 5 });
    await first.kill9();
    const atKill = await studentsOnServer(tenant);
    expect(atKill).toBeLessThan(total);

    const second = spawnDesk({ db: path, tenantId: tenant, serverUrl: server.url, token, options });
    await settled(second);
    await second.stop();
    expect(await studentsOnServer(tenant)).toBe(total);
    // Each upload was applied once: one CREATE in the log per student, one version per row.
    const twice = await db.pool.query(
      `SELECT entity_id FROM sync_events WHERE tenant_id = $1 GROUP BY entity_id HAVING count(*) > 1`,
      [tenant],
    );
    expect(twice.rowCount).toBe(0);
    const counts = await expectEqualToServer(path, tenant);
    expect(counts).toMatchObject({ PENDING: 0, SENT: 0, FAILED: 0, CONFLICT: 0, ACKNOWLEDGED: total });
  });

  it('killed in the middle of applying catch-up pages, the restarted desk ends equal to the server', async () => {
    const tenant = await createTenant(db.pool);
    const token = await server.token(tenant);
    const path = dir.path('k2.db');
    const options = { ...FAST_SYNC, downLimit: 1000 };
    const first = spawnDesk({ db: path, tenantId: tenant, serverUrl: server.url, token, options });
    await settled(first);
    await first.stop();
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, server_version)
       SELECT $1, gen_random_uuid(), 'Bulk', 'N' || g, 0 FROM generate_series(1, 40000) g`,
      [tenant],
    );
    await server.captured();

    const second = spawnDesk({ db: path, tenantId: tenant, serverUrl: server.url, token, options });
    await waitFor(() => (second.status?.progress?.done ?? 0) >= 5000, { timeoutMs: 30_000, intervalMs: 2 });
    await second.kill9();
    const third = spawnDesk({ db: path, tenantId: tenant, serverUrl: server.url, token, options });
    await settled(third);
    await third.stop();
    const store = DeskStore.open(path, { tenantId: tenant });
    try {
      expect(store.count('STUDENT')).toBe(40000);
    } finally {
      store.close();
    }
    await expectEqualToServer(path, tenant);
  });
});
