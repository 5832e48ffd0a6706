import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE } from '../shared/protocol.ts';
import { signToken } from '../server/auth/tokens.ts';
import { encodeCursor } from '../server/log/cursor.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { createTenant } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { appendEvents } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

describe('/api/sync/ws handshake and close codes', () => {
  let db: TestDatabase;
  let server: PushServer;
  let tenant: string;
  let token: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    server = await startPushServer(db, {
      rules: {
        intervals: { helloTimeoutMs: 300 },
        entityTypes: ['ACADEMIC_YEAR', 'SCHOOL_LEVEL', 'CLASS', 'STUDENT', 'TEACHER'],
      },
      log: pino({ level: 'info' }, sink),
    });
    tenant = await createTenant(db.pool);
    token = await server.token(tenant);
    await appendEvents(db.pool, [{ tenantId: tenant, count: 3 }]);
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  async function closeOf(desk: TestDesk): Promise<{ code: number; reason: string }> {
    return desk.closed;
  }

  it('a socket without a token, with a forged one, or without the right closes 4401', async () => {
    const forged = await signToken(
      'another-secret-another-secret-another-00',
      { sub: 'x', tenantId: tenant, role: 'desk' },
      60,
    );
    const dba = await server.token(tenant, { role: 'dba' });
    const ghost = await server.token('00000000-0000-4000-8000-000000000000');
    for (const [name, t] of [
      ['missing', undefined],
      ['forged', forged],
      ['garbage', 'not.a.jwt'],
      ['dba role', dba],
      ['unknown tenant', ghost],
    ] as const) {
      const desk = TestDesk.open(server.wsUrl, t === undefined ? {} : { token: t });
      const closed = await closeOf(desk);
      expect(closed.code, name).toBe(WS_CLOSE.UNAUTHORIZED);
      expect(desk.changes, name).toEqual([]);
      expect(desk.messages[0]?.type, name).toBe('error');
    }
  });

  it('a socket whose token expires while connected closes 4401', async () => {
    const shortLived = await server.token(tenant, { ttlSeconds: 2 });
    const desk = TestDesk.open(server.wsUrl, { token: shortLived });
    await desk.waitForChanges(3);
    const closed = await closeOf(desk);
    expect(closed).toEqual({ code: WS_CLOSE.UNAUTHORIZED, reason: 'TOKEN_EXPIRED' });
  });

  it('a socket that sends no hello within helloTimeoutMs closes 4400', async () => {
    const started = Date.now();
    const desk = TestDesk.open(server.wsUrl, { token, hello: null });
    const closed = await closeOf(desk);
    expect(closed.code).toBe(WS_CLOSE.BAD_HELLO);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('a bad hello gets an error message, then 4400', async () => {
    for (const hello of [
      'not json',
      { type: 'ack', cursor: encodeCursor({ epoch: 0, eventId: 1 }) },
      { type: 'hello', cursor: null },
      { type: 'hello', clientId: 'd', cursor: 42 },
      { type: 'hello', clientId: 'd', cursor: null, entityTypes: ['UNICORN'] },
      // A real type the rules do not serve.
      { type: 'hello', clientId: 'd', cursor: null, entityTypes: ['PAYMENT'] },
    ]) {
      const desk = TestDesk.open(server.wsUrl, { token, hello });
      const closed = await closeOf(desk);
      expect(closed.code, JSON.stringify(hello)).toBe(WS_CLOSE.BAD_HELLO);
      expect(desk.messages.map((m) => m.type)).toEqual(['error']);
    }
  });

  it('a cursor this server never issued gets an error message, then 4400', async () => {
    for (const cursor of [
      'garbage',
      encodeCursor({ epoch: 0, eventId: 1_000_000_000 }),
      encodeCursor({ epoch: 7, eventId: 1 }),
    ]) {
      const desk = TestDesk.open(server.wsUrl, { token, cursor });
      const closed = await closeOf(desk);
      expect(closed).toEqual({ code: WS_CLOSE.BAD_HELLO, reason: 'INVALID_CURSOR' });
      expect(desk.messages).toEqual([{ type: 'error', code: 'INVALID_CURSOR', message: expect.any(String) }]);
    }
  });

  it('a cursor older than the log retains (epoch bumped, or pruned) gets resync, then 4410', async () => {
    const other = await createTenant(db.pool);
    const otherToken = await server.token(other);
    const ids = (await appendEvents(db.pool, [{ tenantId: other, count: 5 }])).get(other)!;
    const oldCursor = encodeCursor({ epoch: 0, eventId: ids[1]! });

    // Pruned: the floor passed the cursor; a null cursor cannot be served either.
    await db.pool.query(`INSERT INTO sync_tenant_log (tenant_id, epoch, floor_id) VALUES ($1, 0, $2)`, [
      other,
      ids[3],
    ]);
    for (const cursor of [oldCursor, null]) {
      const desk = TestDesk.open(server.wsUrl, { token: otherToken, cursor });
      expect(await closeOf(desk)).toEqual({ code: WS_CLOSE.RESYNC_REQUIRED, reason: 'RESYNC_REQUIRED' });
      expect(desk.messages).toEqual([{ type: 'resync', code: 'RESYNC_REQUIRED' }]);
    }
    // The log was rebuilt: a new epoch.
    await db.pool.query(`UPDATE sync_tenant_log SET epoch = 1, floor_id = $2 WHERE tenant_id = $1`, [
      other,
      ids[4],
    ]);
    const stale = TestDesk.open(server.wsUrl, {
      token: otherToken,
      cursor: encodeCursor({ epoch: 0, eventId: ids[4]! }),
    });
    expect(await closeOf(stale)).toEqual({ code: WS_CLOSE.RESYNC_REQUIRED, reason: 'RESYNC_REQUIRED' });
    expect(stale.messages).toEqual([{ type: 'resync', code: 'RESYNC_REQUIRED' }]);
  });

  it('the token may travel as ?access_token= and never reaches the log', async () => {
    const desk = TestDesk.open(server.wsUrl, { token, tokenIn: 'query' });
    await desk.waitForChanges(3);
    await desk.close();
    const log = logLines.join('');
    expect(log).toContain('access_token=[redacted]');
    expect(log).not.toContain(token);
  });

  it('a plain GET of the socket route is a protocol 400', async () => {
    const response = await fetch(`${server.url}/api/sync/ws`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ statusCode: 400, code: 'BAD_REQUEST' });
  });
});
