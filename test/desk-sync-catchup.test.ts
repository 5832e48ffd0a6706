import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTITY_TYPES } from '../shared/entities.ts';
import { waitFor, type TestDatabase } from './support/db.ts';
import { TestDeskClient, type deskDir } from './support/desk-client.ts';
import { startDeskServer, stopDeskServer, type DeskTestServer } from './support/desk-server.ts';

describe('catch-up after a long time offline', () => {
  let db: TestDatabase;
  let server: DeskTestServer;
  let dir: ReturnType<typeof deskDir>;
  let desk: TestDeskClient;
  let tenant: string;

  beforeAll(async () => {
    ({ db, server, tenant, dir } = await startDeskServer());
    desk = new TestDeskClient(dir.path('desk.db'), tenant, server, await server.token(tenant));
  });
  afterAll(async () => {
    await desk?.close();
    await stopDeskServer({ db, server, dir });
  });

  it("a desk offline while 50 000 server changes happen catches up and matches the server's checksums", async () => {
    desk.start();
    await waitFor(() => desk.status?.live, { message: 'desk live' });
    await desk.stop();
    // 30 000 inserts, 15 000 updates and 5 000 deletes: 50 000 changes, every operation.
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, server_version)
       SELECT $1, gen_random_uuid(), 'Bulk', 'N' || g, 0 FROM generate_series(1, 30000) g`,
      [tenant],
    );
    await db.pool.query(
      `UPDATE students SET first_name = 'Changed' WHERE tenant_id = $1 AND id IN (
         SELECT id FROM students WHERE tenant_id = $1 ORDER BY id LIMIT 15000)`,
      [tenant],
    );
    await db.pool.query(
      `DELETE FROM students WHERE tenant_id = $1 AND id IN (
         SELECT id FROM students WHERE tenant_id = $1 ORDER BY id DESC LIMIT 5000)`,
      [tenant],
    );
    await server.captured();
    const started = Date.now();
    const sync = desk.start();
    await waitFor(() => sync.status.live && sync.status.checksum?.matched, {
      timeoutMs: 60_000,
      message: 'caught up and checked',
    });
    const seconds = (Date.now() - started) / 1000;
    expect(desk.store.count('STUDENT')).toBe(25_000);
    expect(sync.status.checksum?.resynced).toEqual([]);
    expect(desk.store.checksums()).toEqual(await server.checksums(tenant, ENTITY_TYPES));
    // The bar said "N of 50 000" from the first page on (PROTOCOL countRemaining), N growing to the total.
    const shown = desk.statuses.flatMap((s) => (s.progress?.kind === 'catch-up' ? [s.progress] : []));
    expect(shown.length).toBeGreaterThan(1);
    expect(new Set(shown.map((p) => p.total))).toEqual(new Set([50_000]));
    expect(shown.at(-1)?.done).toBe(50_000);
    console.log(`catch-up: 50 000 changes caught up and checked in ${seconds.toFixed(1)} s`);
  });
});
