import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchChange, CommittedBatch } from '../server/log/committed-batch.ts';
import { changeColumnsSql, spliceChange, type ChangeColumns } from '../server/log/read.ts';
import { WS_CLOSE } from '../shared/protocol.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { appendEvents, tenantLog } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

/** The identity of the capture that hands its batches to the node under test. */
const CAPTURE = 'capture-of-this-node';
/** Longer than the hub's wait for a handover after its notification (HANDOFF_GRACE_MS). */
const PAST_GRACE_MS = 400;

describe('a node pushes what its own capture hands over without reading it back (issue 14)', () => {
  let db: TestDatabase;
  let node: PushServer;
  const desks: TestDesk[] = [];

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    node = await startPushServer(db, { hub: { captureIdentity: CAPTURE, retryMinMs: 50, retryMaxMs: 200 } });
  });

  afterAll(async () => {
    for (const desk of desks) desk.cut();
    await node?.close();
    await db?.drop();
  });

  /** A live desk of a new tenant, with the hub at rest after its first read. */
  async function liveDesk(): Promise<{ tenant: string; desk: TestDesk }> {
    const tenant = await createTenant(db.pool);
    const desk = TestDesk.open(node.wsUrl, { token: await node.token(tenant), clientId: `desk-${tenant}` });
    desks.push(desk);
    await waitFor(() => node.hub.tailOf(tenant) !== null && atRest());
    return { tenant, desk };
  }

  function atRest(): boolean {
    const stats = node.hub.stats;
    return stats.readsInFlight === 0 && stats.tenantsPending === 0;
  }

  async function logEnd(): Promise<number> {
    const result = await db.pool.query<{ end: string }>(
      `SELECT coalesce(max(id), 0)::text AS end FROM sync_events`,
    );
    return Number(result.rows[0]!.end);
  }

  /** The batch capture would hand over for the tenant's events `ids`, spliced from the log as a read is. */
  async function batchOf(
    tenant: string,
    afterId: number,
    ids: readonly number[],
    epoch = 0,
  ): Promise<CommittedBatch> {
    const rows = await db.pool.query<ChangeColumns>({
      text: `SELECT ${changeColumnsSql('e', '$2')} FROM sync_events e WHERE e.id = ANY($1::bigint[]) ORDER BY e.id`,
      values: [ids, null],
      rowMode: 'array',
    });
    const changes: BatchChange[] = rows.rows.map((columns) => ({
      id: Number(columns[0]),
      entityType: columns[1],
      json: spliceChange(...columns),
      modifiedAt: columns[6],
    }));
    return {
      afterId,
      lastId: Math.max(...ids),
      tenantIds: [tenant],
      epochOf: () => epoch,
      changesOf: (t) => (t === tenant ? changes : []),
    };
  }

  function handOff(batch: CommittedBatch): void {
    node.hub.handOff({ all: false, tenantIds: batch.tenantIds, committed: batch, capture: CAPTURE });
  }

  it('a handed-over batch reaches the live desks with no read, and its notification causes none', async () => {
    const { tenant, desk } = await liveDesk();
    const { reads, handedOver } = node.hub.stats;
    const afterId = await logEnd();
    const ids = (
      await appendEvents(db.pool, [{ tenantId: tenant, count: 3 }], { notify: { capture: CAPTURE } })
    ).get(tenant)!;
    handOff(await batchOf(tenant, afterId, ids));
    await desk.waitForChanges(3);
    expect(desk.ids).toEqual(await tenantLog(db.pool, tenant));
    await new Promise((resolve) => setTimeout(resolve, PAST_GRACE_MS));
    expect(node.hub.stats).toMatchObject({ reads, handedOver: handedOver + 1 });
    expect(desk.changes).toHaveLength(3);
  });

  it('a batch that does not start where the hub’s reading of the tenant ended is read from the log instead', async () => {
    const { tenant, desk } = await liveDesk();
    const { reads, handedOver } = node.hub.stats;
    // A change the hub was never told of, then a batch handed over that starts after it.
    const [missed] = (await appendEvents(db.pool, [{ tenantId: tenant, count: 1 }], { notify: false })).get(
      tenant,
    )!;
    const ids = (await appendEvents(db.pool, [{ tenantId: tenant, count: 2 }], { notify: false })).get(
      tenant,
    )!;
    handOff(await batchOf(tenant, missed!, ids));
    await desk.waitForChanges(3);
    expect(desk.ids).toEqual(await tenantLog(db.pool, tenant));
    expect(node.hub.stats.reads).toBeGreaterThan(reads);
    expect(node.hub.stats.handedOver).toBe(handedOver);
  });

  it('a notification of its own capture whose batch is never handed over is read after a moment', async () => {
    const { tenant, desk } = await liveDesk();
    const { reads } = node.hub.stats;
    await appendEvents(db.pool, [{ tenantId: tenant, count: 2 }], { notify: { capture: CAPTURE } });
    await desk.waitForChanges(2);
    expect(desk.ids).toEqual(await tenantLog(db.pool, tenant));
    expect(node.hub.stats.reads).toBeGreaterThan(reads);
  });

  it('a batch of another epoch than the hub’s tail is not pushed: the read that replaces it resyncs the desk', async () => {
    const { tenant, desk } = await liveDesk();
    const afterId = await logEnd();
    await db.pool.query(
      `INSERT INTO sync_tenant_log (tenant_id, epoch, floor_id, reason, changed_at) VALUES ($1, 1, $2, 'test', now())`,
      [tenant, afterId],
    );
    const ids = (await appendEvents(db.pool, [{ tenantId: tenant, count: 1 }], { notify: false })).get(
      tenant,
    )!;
    handOff(await batchOf(tenant, afterId, ids, 1));
    expect(await desk.closed).toEqual({ code: WS_CLOSE.RESYNC_REQUIRED, reason: 'RESYNC_REQUIRED' });
    expect(desk.changes).toHaveLength(0);
  });

  it('a batch handed over for a tenant nobody follows here, then a TRUNCATE, costs no read', async () => {
    const tenant = await createTenant(db.pool);
    const { reads } = node.hub.stats;
    const afterId = await logEnd();
    const ids = (await appendEvents(db.pool, [{ tenantId: tenant, count: 1 }], { notify: false })).get(
      tenant,
    )!;
    handOff(await batchOf(tenant, afterId, ids));
    expect(node.hub.stats.reads).toBe(reads);
    // A batch that cannot be handed over (a TRUNCATE) wakes every followed tenant: they are read.
    const { desk } = await liveDesk();
    const before = node.hub.stats.reads;
    node.hub.handOff({ all: true, tenantIds: [], committed: null, capture: CAPTURE });
    await waitFor(() => node.hub.stats.reads > before && atRest());
    expect(desk.closeCode).toBeNull();
  });
});
