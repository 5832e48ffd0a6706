import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../server/auth/tokens.ts';
import { MAX_BAD_MESSAGES } from '../server/socket/desk-connection.ts';
import { errorBodySchema } from '../shared/protocol.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, TEST_JWT_SECRET } from './support/http.ts';
import { openNonReadingDesk, TestDesk } from './support/ws-desk.ts';
import { appendEvents } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

const PER_MINUTE = 5;
const SOCKETS = 3;

describe('limits per token and per tenant', () => {
  let db: TestDatabase;
  let server: PushServer;
  const desks: TestDesk[] = [];
  const raw: Socket[] = [];

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    server = await startPushServer(db, {
      rules: { limits: { requestsPerMinute: PER_MINUTE, socketsPerTenant: SOCKETS } },
      socket: { pauseAboveBytes: 4096, resumeBelowBytes: 0, slowCloseMs: 600_000 },
    });
  });
  afterAll(async () => {
    for (const desk of desks) desk.cut();
    for (const socket of raw) socket.destroy();
    await server?.close();
    await db?.drop();
  });

  function open(options: Parameters<typeof TestDesk.open>[1]): TestDesk {
    const desk = TestDesk.open(server.wsUrl, options);
    desks.push(desk);
    return desk;
  }

  async function down(token: string): Promise<Response> {
    return fetch(`${server.url}/api/sync/down`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ clientId: 'desk-1', limit: 1 }),
    });
  }

  function socketsOf(tenant: string): number {
    return server.app.deskSockets!.desks().filter((d) => d.tenantId === tenant).length;
  }

  it('a token over limits.requestsPerMinute gets 429 RATE_LIMITED with Retry-After, while another token of the same school still passes', async () => {
    const tenant = await createTenant(db.pool);
    const busy = await signToken(TEST_JWT_SECRET, { sub: 'desk-a', tenantId: tenant, role: 'desk' }, 3600);
    const other = await signToken(TEST_JWT_SECRET, { sub: 'desk-b', tenantId: tenant, role: 'desk' }, 3600);
    // At most PER_MINUTE pass in a window; 2 × PER_MINUTE + 1 requests meet a 429 even across a turn.
    let limited: Response | null = null;
    let passed = 0;
    for (let i = 0; i < 2 * PER_MINUTE + 1 && limited === null; i++) {
      const response = await down(busy);
      if (response.status === 429) limited = response;
      else {
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        passed++;
      }
    }
    expect(limited).not.toBeNull();
    expect(passed).toBeGreaterThanOrEqual(PER_MINUTE);
    const retryAfter = Number(limited!.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    const body = errorBodySchema.parse(await limited!.json());
    expect(body).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect(body.message).toMatch(/requests this minute/);
    const fine = await down(other);
    expect(fine.status).toBe(200);
  });

  it('a socket over limits.socketsPerTenant is closed 1013 RATE_LIMITED; other schools and freed places are not affected', async () => {
    const tenant = await createTenant(db.pool);
    const token = await server.token(tenant);
    const held = [open({ token }), open({ token }), open({ token })];
    for (const desk of held) await waitFor(() => desk.messages.length > 0);
    const extra = open({ token });
    const { code, reason } = await extra.closed;
    expect(code).toBe(1013);
    expect(reason).toBe('RATE_LIMITED');
    expect(extra.messages).toContainEqual(expect.objectContaining({ type: 'error', code: 'RATE_LIMITED' }));

    const elsewhere = open({ token: await server.token(await createTenant(db.pool)) });
    await waitFor(() => elsewhere.messages.length > 0);
    expect(elsewhere.closeCode).toBeNull();

    await held[0]!.close();
    await waitFor(() => socketsOf(tenant) === SOCKETS - 1);
    const again = open({ token });
    await waitFor(() => again.messages.length > 0);
    expect(again.closeCode).toBeNull();
    for (const desk of [...held, again, elsewhere]) await desk.close();
  });

  it(`a socket that sends ${MAX_BAD_MESSAGES} bad messages after its hello is closed 4400; acks do not count`, async () => {
    const tenant = await createTenant(db.pool);
    const desk = open({ token: await server.token(tenant) });
    await waitFor(() => desk.cursor !== null);
    const bad = [
      'not json',
      '{"type":"nope"}',
      JSON.stringify({ type: 'hello', clientId: 'x', cursor: null }),
    ];
    for (let i = 0; i < MAX_BAD_MESSAGES - 1; i++) {
      desk.send(bad[i % bad.length]!);
      desk.send({ type: 'ack', cursor: desk.cursor });
      await waitFor(() => desk.messages.filter((m) => m.type === 'error').length === i + 1);
    }
    expect(desk.closeCode).toBeNull();
    desk.send('{oops');
    const { code } = await desk.closed;
    expect(code).toBe(4400);
  });

  it('a socket whose unsent bytes are past push.pauseAboveBytes is closed on a bad message instead of being answered', async () => {
    const tenant = await createTenant(db.pool);
    await appendEvents(db.pool, [{ tenantId: tenant, count: 8000, padBytes: 2000 }]);
    const socket = await openNonReadingDesk(server.wsUrl, await server.token(tenant), {
      type: 'hello',
      clientId: 'silent',
      cursor: null,
    });
    raw.push(socket);
    const stateOf = () => server.app.deskSockets!.desks().find((d) => d.tenantId === tenant)?.state;
    await waitFor(() => stateOf() === 'paused', { message: 'the non-reading desk is paused' });
    socket.write(maskedTextFrame('not json'));
    await waitFor(() => socketsOf(tenant) === 0, { message: 'the desk is closed' });
  });
});

function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}
