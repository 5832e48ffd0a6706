import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { appendEvents, tenantLog } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

describe('fan-out across server nodes', () => {
  let db: TestDatabase;
  let nodeA: PushServer;
  let nodeB: PushServer;
  const desks: TestDesk[] = [];

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    nodeA = await startPushServer(db, { hub: { retryMinMs: 50, retryMaxMs: 200 } });
    nodeB = await startPushServer(db, { hub: { retryMinMs: 50, retryMaxMs: 200 } });
  });

  afterAll(async () => {
    for (const desk of desks) desk.cut();
    await nodeA?.close();
    await nodeB?.close();
    await db?.drop();
  });

  async function deskOn(node: PushServer, tenant: string, clientId: string): Promise<TestDesk> {
    const desk = TestDesk.open(node.wsUrl, { token: await node.token(tenant), clientId });
    desks.push(desk);
    return desk;
  }

  it('two server nodes on one database, each with its own hub, each push a change to their own desks', async () => {
    const tenant = await createTenant(db.pool);
    const onA = [await deskOn(nodeA, tenant, 'a1'), await deskOn(nodeA, tenant, 'a2')];
    const onB = [await deskOn(nodeB, tenant, 'b1')];
    await waitFor(() => nodeA.hub.stats.live === 2 && nodeB.hub.stats.live === 1);
    await appendEvents(db.pool, [{ tenantId: tenant, count: 4 }]);
    const log = await tenantLog(db.pool, tenant);
    for (const desk of [...onA, ...onB]) {
      await desk.waitForChanges(4);
      expect(desk.ids).toEqual(log);
    }
  });

  it('a wake costs one read per woken tenant per node, however many desks the tenant has there', async () => {
    const busy = await createTenant(db.pool);
    const quiet = await createTenant(db.pool);
    const already = nodeA.hub.stats.subscribers;
    const many = await Promise.all(Array.from({ length: 25 }, (_, i) => deskOn(nodeA, busy, `busy-${i}`)));
    const idle = await Promise.all(Array.from({ length: 5 }, (_, i) => deskOn(nodeA, quiet, `quiet-${i}`)));
    // Count from a hub at rest: every desk fed by it, and the reads their joins caused all done.
    await waitFor(() => {
      const hub = nodeA.hub.stats;
      return (
        nodeA.app.deskSockets?.stats.byState.live === nodeA.app.deskSockets?.stats.connections &&
        hub.subscribers === already + many.length + idle.length &&
        hub.live === hub.subscribers &&
        hub.readsInFlight === 0 &&
        hub.tenantsPending === 0
      );
    });
    const before = nodeA.hub.stats;
    await appendEvents(db.pool, [{ tenantId: busy, count: 3 }]);
    for (const desk of many) await desk.waitForChanges(3);
    const after = nodeA.hub.stats;
    expect(after.reads - before.reads).toBe(1);
    expect(after.tenantReads - before.tenantReads).toBe(1);
    expect(after.batches - before.batches).toBe(1);
    // Nobody fell back to reading the log on its own.
    expect(nodeA.app.deskSockets?.stats.byState.paging).toBe(0);
    expect(idle.every((d) => d.changes.length === 0)).toBe(true);
  });

  it('the LISTEN connection comes back after it is killed, and a change committed meanwhile still arrives', async () => {
    const node = await startPushServer(db, { hub: { retryMinMs: 1000, retryMaxMs: 1000 } });
    try {
      const tenant = await createTenant(db.pool);
      const desk = TestDesk.open(node.wsUrl, { token: await node.token(tenant) });
      desks.push(desk);
      await waitFor(() => node.hub.stats.live === 1);
      const connections = node.hub.stats.listenConnections;
      await db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'school-sync-fanout'`,
      );
      await waitFor(() => !node.hub.stats.listening, { message: 'LISTEN lost' });
      // Committed while this node does not listen: its notification is lost, the reconnection makes up for it.
      await appendEvents(db.pool, [{ tenantId: tenant, count: 2 }]);
      await waitFor(() => node.hub.stats.listenConnections > connections, { message: 'LISTEN back' });
      await desk.waitForChanges(2);
      await appendEvents(db.pool, [{ tenantId: tenant, count: 1 }]);
      await desk.waitForChanges(3);
      expect(desk.ids).toEqual(await tenantLog(db.pool, tenant));
    } finally {
      await node.close();
    }
  });
});
