import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE } from '../shared/protocol.ts';
import { encodeCursor } from '../server/log/cursor.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { appendEvents, tenantLog } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

describe('/api/sync/ws delivery', () => {
  let db: TestDatabase;
  let server: PushServer;
  const desks: TestDesk[] = [];

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    server = await startPushServer(db, { socket: { pageLimit: 200 } });
  });

  afterAll(async () => {
    for (const desk of desks) desk.cut();
    await server?.close();
    await db?.drop();
  });

  function open(...args: Parameters<typeof TestDesk.open>): TestDesk {
    const desk = TestDesk.open(...args);
    desks.push(desk);
    return desk;
  }

  async function tenantWithToken(): Promise<{ tenant: string; token: string }> {
    const tenant = await createTenant(db.pool);
    return { tenant, token: await server.token(tenant) };
  }

  it('the backlog after the hello cursor comes first, in pages, then live changes; each message carries the cursor of its last change', async () => {
    const { tenant, token } = await tenantWithToken();
    const first = (await appendEvents(db.pool, [{ tenantId: tenant, count: 100 }])).get(tenant)!;
    await appendEvents(db.pool, [{ tenantId: tenant, count: 900 }]);
    const cursor = encodeCursor({ epoch: 0, eventId: first[99]! });
    const desk = open(server.wsUrl, { token, cursor });
    await desk.waitForChanges(900);
    await appendEvents(db.pool, [{ tenantId: tenant, count: 7 }]);
    await desk.waitForChanges(907);
    await appendEvents(db.pool, [{ tenantId: tenant, count: 3 }]);
    await desk.waitForChanges(910);

    const log = await tenantLog(db.pool, tenant);
    expect(desk.ids).toEqual(log.slice(100));
    const messages = desk.messages.filter((m) => m.type === 'changes');
    // 900 backlog changes in pages of 200, then the two live batches.
    expect(messages.map((m) => m.changes.length)).toEqual([200, 200, 200, 200, 100, 7, 3]);
    for (const message of messages) {
      expect(message.cursor).toBe(encodeCursor({ epoch: 0, eventId: Number(message.changes.at(-1)!.id) }));
    }
    // Reconnecting with the persisted cursor brings nothing again.
    desk.cut();
    const again = open(server.wsUrl, { token, cursor: desk.cursor });
    await appendEvents(db.pool, [{ tenantId: tenant, count: 1 }]);
    await again.waitForChanges(1);
    expect(again.ids).toEqual((await tenantLog(db.pool, tenant)).slice(1010));
  });

  it('backlog and live changes arriving together stay in order, gap-free and without duplicates', async () => {
    const { tenant, token } = await tenantWithToken();
    await appendEvents(db.pool, [{ tenantId: tenant, count: 3000 }]);
    const start = (await tenantLog(db.pool, tenant)).map(Number);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 400; i++)
        await appendEvents(db.pool, [{ tenantId: tenant, count: 1 + (i % 5) }]);
    })();
    // Desks join at different points of the backlog while the writer runs.
    const cursors = [null, start[0]!, start[1499]!, start[2999]!];
    const joined: { desk: TestDesk; after: number }[] = [];
    for (const eventId of cursors) {
      joined.push({
        desk: open(server.wsUrl, {
          token,
          cursor: eventId === null ? null : encodeCursor({ epoch: 0, eventId }),
        }),
        after: eventId ?? 0,
      });
      await new Promise((r) => setTimeout(r, 30));
    }
    // The writer goes on until every desk, the one that joined at the end of the backlog included, is
    // receiving: live changes then arrive while backlogs are still being sent.
    await waitFor(() => joined.every(({ desk }) => desk.changes.length > 0), {
      message: 'every desk receiving while the writer writes',
    });
    writing = false;
    await writer;
    const log = await tenantLog(db.pool, tenant);
    for (const { desk, after } of joined) {
      const expected = log.filter((id) => Number(id) > after);
      await desk.waitForChanges(expected.length);
      expect(desk.ids).toEqual(expected);
    }
  });

  it('a desk with entityTypes gets only those types, and its cursor still moves past the others', async () => {
    const { tenant, token } = await tenantWithToken();
    await appendEvents(db.pool, [
      { tenantId: tenant, count: 3, entityType: 'TEACHER' },
      { tenantId: tenant, count: 5, entityType: 'STUDENT' },
    ]);
    const teachers = open(server.wsUrl, { token, entityTypes: ['TEACHER'], clientId: 't1' });
    const twin = open(server.wsUrl, { token, entityTypes: ['TEACHER'], clientId: 't2' });
    const both = open(server.wsUrl, { token, entityTypes: ['STUDENT', 'TEACHER'], clientId: 'b' });
    const all = open(server.wsUrl, { token, clientId: 'all' });
    await all.waitForChanges(8);
    await teachers.waitForChanges(3);
    await appendEvents(db.pool, [
      { tenantId: tenant, count: 4, entityType: 'STUDENT' },
      { tenantId: tenant, count: 2, entityType: 'TEACHER' },
    ]);
    await appendEvents(db.pool, [{ tenantId: tenant, count: 2, entityType: 'STUDENT' }]);
    await all.waitForChanges(16);
    const full = await tenantLog(db.pool, tenant);
    const tail = encodeCursor({ epoch: 0, eventId: Number(full.at(-1)) });
    await waitFor(() => teachers.cursor === tail && twin.cursor === tail && both.cursor === tail);
    expect(teachers.ids).toEqual(await tenantLog(db.pool, tenant, ['TEACHER']));
    expect(twin.ids).toEqual(teachers.ids);
    expect(teachers.changes.every((c) => c.entityType === 'TEACHER')).toBe(true);
    expect(both.ids).toEqual(full);
    expect(all.ids).toEqual(full);
  });

  it('a desk never receives another tenant’s change, whatever its hello says', async () => {
    const a = await tenantWithToken();
    const b = await tenantWithToken();
    const bIds = (await appendEvents(db.pool, [{ tenantId: b.tenant, count: 5 }])).get(b.tenant)!;
    await appendEvents(db.pool, [{ tenantId: a.tenant, count: 2 }]);
    const hellos = [
      { type: 'hello', clientId: 'x', cursor: null, tenantId: b.tenant },
      {
        type: 'hello',
        clientId: 'x',
        cursor: encodeCursor({ epoch: 0, eventId: bIds[0]! - 1 }),
        tenant: b.tenant,
      },
    ];
    const spies = hellos.map((hello) => open(server.wsUrl, { token: a.token, hello }));
    const bDesk = open(server.wsUrl, { token: b.token });
    await appendEvents(db.pool, [
      { tenantId: b.tenant, count: 5 },
      { tenantId: a.tenant, count: 1 },
    ]);
    await bDesk.waitForChanges(10);
    const aLog = await tenantLog(db.pool, a.tenant);
    for (const spy of spies) {
      await spy.waitForChanges(3);
      expect(spy.ids).toEqual(aLog);
      expect(spy.changes.every((c) => c.payload.tenantId === a.tenant)).toBe(true);
    }
  });

  it('a desk whose cursor points past its tenant’s changes holds up no other desk of the tenant', async () => {
    const { tenant, token } = await tenantWithToken();
    const other = await createTenant(db.pool);
    const mine = (await appendEvents(db.pool, [{ tenantId: tenant, count: 2 }])).get(tenant)!;
    const foreign = (await appendEvents(db.pool, [{ tenantId: other, count: 3 }])).get(other)!;
    // Joins first, at a position past every change of its tenant (another tenant's cursor).
    const far = open(server.wsUrl, {
      token,
      clientId: 'far',
      cursor: encodeCursor({ epoch: 0, eventId: foreign[2]! }),
    });
    await waitFor(() =>
      server.app.deskSockets?.desks().some((d) => d.clientId === 'far' && d.state === 'live'),
    );
    const near = open(server.wsUrl, {
      token,
      clientId: 'near',
      cursor: encodeCursor({ epoch: 0, eventId: mine[0]! }),
    });
    await near.waitForChanges(1);
    await waitFor(() =>
      server.app.deskSockets?.desks().some((d) => d.clientId === 'near' && d.state === 'live'),
    );
    await appendEvents(db.pool, [{ tenantId: tenant, count: 2 }]);
    await near.waitForChanges(3);
    await far.waitForChanges(2);
    const log = await tenantLog(db.pool, tenant);
    expect(near.ids).toEqual(log.slice(1));
    expect(far.ids).toEqual(log.slice(2));
  });

  it('acks are recorded per desk and the lag is reported', async () => {
    const { tenant, token } = await tenantWithToken();
    await appendEvents(db.pool, [{ tenantId: tenant, count: 10 }]);
    const desk = open(server.wsUrl, { token, clientId: 'acking' });
    await desk.waitForChanges(10);
    const log = await tenantLog(db.pool, tenant);
    desk.send({ type: 'ack', cursor: encodeCursor({ epoch: 0, eventId: Number(log[4]) }) });
    const report = await waitFor(() =>
      server.app.deskSockets?.desks().find((d) => d.clientId === 'acking' && d.ackedEventId !== null),
    );
    expect(report).toMatchObject({
      tenantId: tenant,
      ackedEventId: Number(log[4]),
      lagEvents: Number(log[9]) - Number(log[4]),
    });
    desk.send({ type: 'ack', cursor: 'not-a-cursor' });
    await waitFor(() => desk.messages.some((m) => m.type === 'error'));
    expect(desk.closeCode).toBeNull();
    expect(server.app.deskSockets?.stats.acking).toBeGreaterThanOrEqual(1);
  });

  it('a live desk whose tenant log is rebuilt (new epoch) gets resync, then 4410', async () => {
    const { tenant, token } = await tenantWithToken();
    await appendEvents(db.pool, [{ tenantId: tenant, count: 2 }]);
    const desk = open(server.wsUrl, { token });
    await desk.waitForChanges(2);
    await waitFor(() =>
      server.app.deskSockets?.desks().some((d) => d.tenantId === tenant && d.state === 'live'),
    );
    await db.pool.query(
      `INSERT INTO sync_tenant_log (tenant_id, epoch, floor_id) VALUES ($1, 1, (SELECT max(id) FROM sync_events))`,
      [tenant],
    );
    await appendEvents(db.pool, [{ tenantId: tenant, count: 1 }]);
    expect(await desk.closed).toEqual({ code: WS_CLOSE.RESYNC_REQUIRED, reason: 'RESYNC_REQUIRED' });
    expect(desk.messages.at(-1)).toEqual({ type: 'resync', code: 'RESYNC_REQUIRED' });
    expect(desk.changes).toHaveLength(2);
  });

  it('a desk whose socket fills up is paused, and resumes from its own cursor when it drains', async () => {
    const slow = await startPushServer(db, {
      socket: { pauseAboveBytes: 16 * 1024, resumeBelowBytes: 1024 },
    });
    try {
      const { tenant } = await tenantWithToken();
      const token = await slow.token(tenant);
      const desk = TestDesk.open(slow.wsUrl, { token, validate: false });
      const steady = TestDesk.open(slow.wsUrl, { token, validate: false, clientId: 'steady' });
      await desk.opened;
      await waitFor(() => slow.app.deskSockets?.stats.byState.live === 2);
      const raw = (desk.ws as unknown as { _socket: Socket })._socket;
      raw.pause();
      for (let i = 0; i < 20; i++) await appendEvents(db.pool, [{ tenantId: tenant, count: 1000 }]);
      await steady.waitForChanges(20_000, 30_000);
      await waitFor(() => slow.app.deskSockets?.stats.byState.paused === 1, { message: 'desk paused' });
      raw.resume();
      await desk.waitForChanges(20_000, 30_000);
      expect(desk.ids).toEqual(await tenantLog(db.pool, tenant));
      expect(steady.ids).toEqual(desk.ids);
      await waitFor(() => slow.app.deskSockets?.stats.byState.live === 2, { message: 'desk live again' });
      desk.cut();
      steady.cut();
    } finally {
      await slow.close();
    }
  });

  it('a desk paused longer than slowCloseMs is closed, and catches up when it reconnects', async () => {
    const slow = await startPushServer(db, {
      socket: { pauseAboveBytes: 16 * 1024, slowCloseMs: 500, closeGraceMs: 200 },
    });
    try {
      const { tenant } = await tenantWithToken();
      const token = await slow.token(tenant);
      const desk = TestDesk.open(slow.wsUrl, { token, validate: false });
      await desk.opened;
      await waitFor(() => slow.app.deskSockets?.stats.byState.live === 1);
      const raw = (desk.ws as unknown as { _socket: Socket })._socket;
      raw.pause();
      for (let i = 0; i < 20; i++) await appendEvents(db.pool, [{ tenantId: tenant, count: 1000 }]);
      await waitFor(() => slow.app.deskSockets?.stats.connections === 0, {
        timeoutMs: 15_000,
        message: 'slow desk closed',
      });
      raw.resume();
      await desk.closed;
      expect(desk.changes.length).toBeLessThan(20_000);
      const again = TestDesk.open(slow.wsUrl, { token, cursor: desk.cursor, validate: false });
      const log = await tenantLog(db.pool, tenant);
      await again.waitForChanges(log.length - desk.changes.length, 30_000);
      expect([...desk.ids, ...again.ids]).toEqual(log);
      again.cut();
    } finally {
      await slow.close();
    }
  });

  it('a peer that answers no ping for 3 intervals is dropped; one that answers stays', async () => {
    const pinging = await startPushServer(db, { rules: { intervals: { wsPingMs: 200 } } });
    try {
      const { tenant } = await tenantWithToken();
      const token = await pinging.token(tenant);
      const silent = TestDesk.open(pinging.wsUrl, { token, autoPong: false });
      const alive = TestDesk.open(pinging.wsUrl, { token, clientId: 'alive' });
      const started = Date.now();
      await silent.closed;
      expect(Date.now() - started).toBeGreaterThanOrEqual(550);
      expect(Date.now() - started).toBeLessThan(3000);
      await new Promise((r) => setTimeout(r, 400));
      expect(alive.closeCode).toBeNull();
      alive.cut();
    } finally {
      await pinging.close();
    }
  });

  it('a server shutdown closes every socket with 1001', async () => {
    const closing = await startPushServer(db);
    const { tenant } = await tenantWithToken();
    const token = await closing.token(tenant);
    const a = TestDesk.open(closing.wsUrl, { token });
    const b = TestDesk.open(closing.wsUrl, { token, hello: null });
    await Promise.all([a.opened, b.opened]);
    await waitFor(() => closing.app.deskSockets?.stats.byState.live === 1);
    await closing.close();
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
  });
});
