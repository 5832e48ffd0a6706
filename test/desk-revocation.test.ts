import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../server/auth/tokens.ts';
import { WS_CLOSE } from '../shared/protocol.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { deskDir, TestDeskClient } from './support/desk-client.ts';
import { DeskTestServer } from './support/desk-server.ts';
import { createTenant, TEST_JWT_SECRET } from './support/http.ts';
import { deskTokenArgs, runSyncAdmin, type ProcessRun } from './support/run-process.ts';
import { TestDesk } from './support/ws-desk.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

/** PROTOCOL.md: a revoked jti is refused on every node within 5 s. */
const REVOCATION_DEADLINE_MS = 5_000;

let db: TestDatabase;
let a: PushServer;
let b: PushServer;
let tenant: string;

/** The real sync-admin against the test database, signing with the servers' secret. */
function syncAdmin(args: string[]): Promise<ProcessRun> {
  return runSyncAdmin(args, {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: db.url,
      SYNC_JWT_SECRET: TEST_JWT_SECRET,
    },
  });
}

async function deskToken(name: string, tenantId = tenant): Promise<{ token: string; jti: string }> {
  const run = await syncAdmin(deskTokenArgs(tenantId, name, 'alice'));
  expect(run.code, run.stderr).toBe(0);
  const token = run.stdout.trim();
  const { jti } = decodeJwt(token);
  if (typeof jti !== 'string') throw new Error('the desk token has no jti');
  return { token, jti };
}

async function down(server: PushServer, token: string, clientId = 'front-1'): Promise<Response> {
  return fetch(`${server.url}/api/sync/down`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ clientId, cursor: null }),
  });
}

async function codeOf(response: Response): Promise<{ status: number; code: unknown }> {
  const body = (await response.json()) as { code?: unknown };
  return { status: response.status, code: body.code };
}

describe('revocable desk tokens', () => {
  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    // Two server nodes on one database, as PROTOCOL.md runs them.
    [a, b] = await Promise.all([startPushServer(db), startPushServer(db)]);
    tenant = await createTenant(db.pool, 'Revocation school');
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await db?.drop();
  });

  it('sync-admin token --role desk registers the jti with the desk, who signed it, when, and the expiry', async () => {
    const run = await syncAdmin(deskTokenArgs(tenant, 'Front office', 'alice', '--ttl', '30d'));
    expect(run.code, run.stderr).toBe(0);
    const claims = decodeJwt(run.stdout.trim());
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(run.stderr).toContain(`sync-admin desk revoke ${claims.jti}`);
    const rows = await db.pool.query<{
      tenant_id: string;
      desk_name: string;
      signed_by: string;
      signed_at: Date;
      expires_at: Date;
      revoked_at: Date | null;
    }>(
      'SELECT tenant_id::text, desk_name, signed_by, signed_at, expires_at, revoked_at FROM desk_tokens WHERE jti = $1',
      [claims.jti],
    );
    expect(rows.rows).toHaveLength(1);
    const row = rows.rows[0]!;
    expect(row).toMatchObject({
      tenant_id: tenant,
      desk_name: 'Front office',
      signed_by: 'alice',
      revoked_at: null,
    });
    expect(Math.abs(row.expires_at.getTime() / 1000 - claims.exp!)).toBeLessThanOrEqual(1);
    expect(Date.now() - row.signed_at.getTime()).toBeLessThan(60_000);
    // People's tokens are not registered and carry no jti; --desk is for desks only.
    const admin = await syncAdmin(['token', '--tenant', tenant, '--role', 'admin']);
    expect(admin.code, admin.stderr).toBe(0);
    expect(decodeJwt(admin.stdout.trim()).jti).toBeUndefined();
    const wrong = await syncAdmin(['token', '--tenant', tenant, '--role', 'admin', '--desk', 'x']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--desk is for --role desk only/);
  });

  it('a revoked desk token gets 401 TOKEN_REVOKED on every node within 5 s and its open socket closes 4401', async () => {
    const { token, jti } = await deskToken('Library');
    const adminToken = await a.token(tenant, { role: 'admin' });
    // Node B has seen the token (and cached it as registered); node A has too.
    expect((await down(a, token)).status).toBe(200);
    expect((await down(b, token)).status).toBe(200);
    const desk = TestDesk.open(b.wsUrl, { token, clientId: 'library-1' });
    await desk.opened;
    await waitFor(() => b.app.deskSockets?.desks().some((d) => d.clientId === 'library-1'), {
      message: 'the socket is authenticated on node B',
    });

    const revoke = await syncAdmin(['desk', 'revoke', jti, '--by', 'bob']);
    expect(revoke.code, revoke.stderr).toBe(0);
    const revokedAt = Date.now();
    for (const server of [a, b]) {
      await waitFor(async () => (await codeOf(await down(server, token))).code === 'TOKEN_REVOKED', {
        timeoutMs: REVOCATION_DEADLINE_MS,
        message: 'TOKEN_REVOKED within 5 s',
      });
    }
    expect(await codeOf(await down(a, token))).toEqual({ status: 401, code: 'TOKEN_REVOKED' });
    const closed = await Promise.race([
      desk.closed,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), REVOCATION_DEADLINE_MS)),
    ]);
    expect(closed).toEqual({ code: WS_CLOSE.UNAUTHORIZED, reason: 'TOKEN_REVOKED' });
    expect(Date.now() - revokedAt).toBeLessThan(REVOCATION_DEADLINE_MS + 1000);
    // A new socket with it is refused the same way; other tokens of the tenant keep working.
    const again = TestDesk.open(a.wsUrl, { token, clientId: 'library-1' });
    expect(await again.closed).toEqual({ code: WS_CLOSE.UNAUTHORIZED, reason: 'TOKEN_REVOKED' });
    expect((await down(a, adminToken)).status).toBe(200);
    // Revoking twice is harmless and says when it was done.
    const twice = await syncAdmin(['desk', 'revoke', jti]);
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stderr).toMatch(/already revoked .* by bob/);
    const unknown = await syncAdmin(['desk', 'revoke', randomUUID()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no desk token/);
  });

  it('a token with a jti the server never registered is refused TOKEN_REVOKED; one without a jti works as before', async () => {
    const forged = await signToken(
      TEST_JWT_SECRET,
      { sub: 'x', tenantId: tenant, role: 'desk', jti: randomUUID() },
      600,
    );
    expect(await codeOf(await down(a, forged))).toEqual({ status: 401, code: 'TOKEN_REVOKED' });
    const legacy = await signToken(TEST_JWT_SECRET, { sub: 'x', tenantId: tenant, role: 'desk' }, 600);
    expect((await down(a, legacy)).status).toBe(200);
    // Registered for another tenant: not valid for this one.
    const other = await createTenant(db.pool, 'Other school');
    const { jti } = await deskToken('Elsewhere', other);
    const swapped = await signToken(TEST_JWT_SECRET, { sub: 'x', tenantId: tenant, role: 'desk', jti }, 600);
    expect(await codeOf(await down(a, swapped))).toEqual({ status: 401, code: 'TOKEN_REVOKED' });
  });

  it('desk list shows each desk with its state and last contact; GET /api/admin/desks lists the caller tenant only, for admins', async () => {
    const { token, jti } = await deskToken('Staff room');
    expect((await down(b, token, 'staff-pc')).status).toBe(200);
    const list = await waitFor(async () => {
      const run = await syncAdmin(['desk', 'list', '--tenant', tenant, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const desks = JSON.parse(run.stdout) as { id: string; lastContactAt: string | null }[];
      return desks.find((d) => d.id === jti)?.lastContactAt != null ? desks : null;
    });
    expect(list.find((d) => d.id === jti)).toMatchObject({
      tenantId: tenant,
      deskName: 'Staff room',
      signedBy: 'alice',
      revokedAt: null,
      lastClientId: 'staff-pc',
    });
    expect(list.find((d) => (d as { deskName?: string }).deskName === 'Library')).toMatchObject({
      revokedBy: 'bob',
      lastClientId: 'front-1',
    });
    const table = await syncAdmin(['desk', 'list']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/Staff room .* active .*\(staff-pc\)/);
    expect(table.stdout).toMatch(/Library .* revoked .* by bob/);
    expect(table.stdout).toContain('Elsewhere');

    const admin = await fetch(`${a.url}/api/admin/desks`, {
      headers: { authorization: `Bearer ${await a.token(tenant, { role: 'admin' })}` },
    });
    expect(admin.status).toBe(200);
    const body = (await admin.json()) as {
      desks: { id: string; deskName: string; lastContactAt: string | null }[];
    };
    expect(body.desks.map((d) => d.deskName)).toEqual(
      expect.arrayContaining(['Front office', 'Library', 'Staff room']),
    );
    expect(body.desks.map((d) => d.deskName)).not.toContain('Elsewhere');
    expect(body.desks.find((d) => d.id === jti)?.lastContactAt).not.toBeNull();
    for (const role of ['desk', 'dba'] as const) {
      const refused = await fetch(`${a.url}/api/admin/desks`, {
        headers: { authorization: `Bearer ${role === 'desk' ? token : await a.token(tenant, { role })}` },
      });
      expect(await codeOf(refused)).toEqual({ status: 403, code: 'FORBIDDEN' });
    }
  });

  it("the desk's sync reports a revoked token in plain words: its live socket closes 4401 TOKEN_REVOKED, and HTTP answers 401 TOKEN_REVOKED", async () => {
    const { token, jti } = await deskToken('Reception');
    const dir = deskDir();
    // A node with capture, which the desk's checksum check needs before it goes live.
    const server = new DeskTestServer(db);
    await server.start();
    const desk = new TestDeskClient(dir.path('reception.db'), tenant, server, token);
    try {
      desk.start();
      await waitFor(() => desk.status?.live, { timeoutMs: 15_000, message: 'the desk is live' });
      const revoke = await syncAdmin(['desk', 'revoke', jti]);
      expect(revoke.code, revoke.stderr).toBe(0);
      const error = await waitFor(
        () => (desk.status?.lastError?.code === 'TOKEN_REVOKED' ? desk.status.lastError : null),
        {
          timeoutMs: 10_000,
          message: 'the desk reports TOKEN_REVOKED',
        },
      );
      expect(error.message).toBe(
        "This desk's access was revoked by the school's administrator. Enter a new token to continue; your work is kept on this computer.",
      );
      expect(desk.status?.live).toBe(false);
    } finally {
      await desk.close();
      await server.stop();
      dir.remove();
    }
  });
});
