import { SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSyncRules } from '../server/config/rules.ts';
import { createPool } from '../server/db/pool.ts';
import { buildApp } from '../server/http/app.ts';
import { errorBodySchema } from '../shared/protocol.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, startTestServer, TEST_JWT_SECRET, type TestServer } from './support/http.ts';

const DOWN = '/api/sync/down';

describe('authentication and error bodies', () => {
  let db: TestDatabase;
  let server: TestServer;
  let tenant: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.pool);
    tenant = await createTenant(db.pool);
  });
  afterAll(async () => {
    await server.close();
    await db.drop();
  });

  async function call(headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
    const response = await server.post(DOWN, { clientId: 'd' }, { headers });
    expect(errorBodySchema.safeParse(response.body).success || response.status === 200).toBe(true);
    return { status: response.status, body: response.body };
  }

  function sign(claims: Record<string, unknown>, alg = 'HS256', secret = TEST_JWT_SECRET): Promise<string> {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).setIssuedAt();
    if (!('exp' in claims)) jwt.setExpirationTime('1h');
    return jwt.sign(new TextEncoder().encode(secret));
  }

  it('a valid desk token of an existing tenant is let through', async () => {
    const token = await server.token(tenant);
    expect((await call({ authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await call({ authorization: `bearer   ${token}` })).status).toBe(200);
  });

  it('a missing, malformed or non-Bearer Authorization is 401 UNAUTHORIZED', async () => {
    const token = await server.token(tenant);
    for (const headers of [
      {},
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: `Basic ${token}` },
      { authorization: 'Bearer not.a.jwt' },
      { authorization: `Bearer ${token} extra` },
    ]) {
      expect(await call(headers)).toMatchObject({
        status: 401,
        body: { statusCode: 401, code: 'UNAUTHORIZED' },
      });
    }
  });

  it('an expired token is 401 TOKEN_EXPIRED', async () => {
    const expired = await server.token(tenant, 'desk', -60);
    expect(await call({ authorization: `Bearer ${expired}` })).toMatchObject({
      status: 401,
      body: { code: 'TOKEN_EXPIRED' },
    });
  });

  it('a forged token, another algorithm, alg none or bad claims are 401 UNAUTHORIZED', async () => {
    const claims = { sub: 'u', tenantId: tenant, role: 'desk' };
    const forged = await sign(claims, 'HS256', 'another-secret-another-secret-another-secret');
    const hs512 = await sign(claims, 'HS512');
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 }),
    ).toString('base64url')}.`;
    const noTenant = await sign({ sub: 'u', role: 'desk' });
    const badRole = await sign({ sub: 'u', tenantId: tenant, role: 'root' });
    const noExp = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    for (const token of [forged, hs512, none, noTenant, badRole, noExp]) {
      expect(await call({ authorization: `Bearer ${token}` })).toMatchObject({
        status: 401,
        body: { code: 'UNAUTHORIZED' },
      });
    }
  });

  it('a token whose tenant does not exist is 403 UNKNOWN_TENANT, until the tenant is created', async () => {
    const missing = '6f1c0a52-9d0e-4c1e-8b7a-2a7f5b0c9d11';
    const token = await server.token(missing);
    expect(await call({ authorization: `Bearer ${token}` })).toMatchObject({
      status: 403,
      body: { code: 'UNKNOWN_TENANT' },
    });
    await db.pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Late school')`, [missing]);
    expect((await call({ authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('a known tenant is remembered: no tenants query per request', async () => {
    const brief = await createTenant(db.pool, 'Brief');
    const token = await server.token(brief);
    expect((await call({ authorization: `Bearer ${token}` })).status).toBe(200);
    await db.pool.query('DELETE FROM tenants WHERE id = $1', [brief]);
    // Still served from the cache (30 s); a fresh server asks the database and refuses.
    expect((await call({ authorization: `Bearer ${token}` })).status).toBe(200);
    const fresh = await startTestServer(db.pool);
    try {
      const response = await fresh.post(DOWN, { clientId: 'd' }, { token });
      expect(response.status).toBe(403);
    } finally {
      await fresh.close();
    }
  });

  it('a role without the right is 403 FORBIDDEN', async () => {
    const dba = await server.token(tenant, 'dba');
    expect(await call({ authorization: `Bearer ${dba}` })).toMatchObject({
      status: 403,
      body: { code: 'FORBIDDEN' },
    });
    const admin = await server.token(tenant, 'admin');
    expect((await call({ authorization: `Bearer ${admin}` })).status).toBe(200);
  });

  it('authentication comes before the body: a bad body without a token is 401', async () => {
    const response = await server.post(DOWN, '{broken');
    expect(response).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
  });

  it('unknown routes are 404 NOT_FOUND in the error shape', async () => {
    const token = await server.token(tenant);
    const api = await server.post('/api/sync/nope', {}, { token });
    expect(api).toMatchObject({ status: 404, body: { statusCode: 404, code: 'NOT_FOUND' } });
    const root = await fetch(`${server.url}/nope`);
    expect(root.status).toBe(404);
    expect(await root.json()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    const wrongMethod = await fetch(`${server.url}${DOWN}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(wrongMethod.status).toBe(404);
  });

  it('GET /healthz answers 200 while the database answers, 503 when it does not', async () => {
    const ok = await fetch(`${server.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok', database: 'up', databaseCheckedAt: expect.any(String) });

    const deadPool = createPool('postgres://nobody:x@127.0.0.1:1/none', { max: 1 });
    const app = await buildApp(pino({ level: 'silent' }), {
      pool: deadPool,
      rules: parseSyncRules({}),
      jwtSecret: TEST_JWT_SECRET,
    });
    try {
      const response = await app.inject({ method: 'GET', url: '/healthz' });
      expect(response.statusCode).toBe(503);
    } finally {
      await app.close();
      await deadPool.end();
    }
  });

  it('tokens never reach the log, neither the Authorization header nor ?access_token=', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
    const app = await buildApp(log, { pool: db.pool, rules: parseSyncRules({}), jwtSecret: TEST_JWT_SECRET });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const token = await server.token(tenant);
    try {
      const address = app.server.address();
      const port = address !== null && typeof address === 'object' ? address.port : 0;
      await fetch(`http://127.0.0.1:${port}${DOWN}?access_token=${token}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: 'd' }),
      });
      await fetch(`http://127.0.0.1:${port}/api/sync/ws?access_token=${token}`, {
        headers: { connection: 'upgrade', upgrade: 'websocket' },
      }).catch(() => undefined);
      await fetch(`http://127.0.0.1:${port}/nope?access_token=${token}`);
      // "request completed" is logged once the answer has left: wait for it rather than race it.
      await waitFor(() => lines.join('').includes('"statusCode":200'));
    } finally {
      await app.close();
    }
    const all = lines.join('');
    expect(all).toContain('access_token=[redacted]');
    expect(all).toContain('"statusCode":200');
    expect(all).not.toContain(token);
    expect(all).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/);
  });
});
