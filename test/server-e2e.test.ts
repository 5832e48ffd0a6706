import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Change, OutboxEvent, SyncDownResponse, SyncUpResponse } from '../shared/protocol.ts';
import { signToken } from '../server/auth/tokens.ts';
import type { RunningServer } from '../server/server.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, startFullServer, TEST_JWT_SECRET } from './support/http.ts';

/**
 * The whole server as `npm start` wires it (migrations, publication, slot, capture, HTTP) on a real
 * Postgres: what any writer commits reaches desks through the log, with its origin when it was an upload.
 */
describe('server end to end', () => {
  let db: TestDatabase;
  let server: RunningServer;
  let schoolA: string;
  let schoolB: string;

  const call = async <T>(
    path: string,
    tenantId: string,
    body: unknown,
  ): Promise<{ status: number; body: T }> => {
    const token = await signToken(TEST_JWT_SECRET, { sub: 'secretary', tenantId, role: 'desk' }, 600);
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  /** Everything of the tenant's log from `cursor`, following hasMore. */
  const catchUp = async (
    tenantId: string,
    cursor: string | null = null,
  ): Promise<{ changes: Change[]; cursor: string }> => {
    const changes: Change[] = [];
    for (;;) {
      const page = await call<SyncDownResponse>('/api/sync/down', tenantId, {
        clientId: 'desk-b',
        cursor,
        limit: 500,
      });
      expect(page.status).toBe(200);
      changes.push(...page.body.changes);
      cursor = page.body.cursor;
      if (!page.body.hasMore) return { changes, cursor };
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startFullServer(db);
    schoolA = await createTenant(db.pool, 'School A');
    schoolB = await createTenant(db.pool, 'School B');
  });
  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  it('a plain-SQL insert, update and delete by another connection reach /down for its tenant, and never another', async () => {
    const teacher = randomUUID();
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'Awa', 'Ndiaye')`,
      [schoolA, teacher],
    );
    await db.pool.query(`UPDATE teachers SET email = 'awa@school.example' WHERE tenant_id = $1 AND id = $2`, [
      schoolA,
      teacher,
    ]);
    await db.pool.query(`DELETE FROM teachers WHERE tenant_id = $1 AND id = $2`, [schoolA, teacher]);
    await db.pool.query(
      `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'Other', 'School')`,
      [schoolB, randomUUID()],
    );

    const seen = await waitFor(async () => {
      const { changes } = await catchUp(schoolA);
      return changes.filter((c) => c.entityId === teacher).length === 3 ? changes : null;
    });
    const mine = seen.filter((c) => c.entityId === teacher);
    expect(mine.map((c) => c.operation)).toEqual(['CREATE', 'UPDATE', 'DELETE']);
    expect(mine[1]!.payload).toMatchObject({ email: 'awa@school.example', firstName: 'Awa' });
    expect(mine[2]!.payload).toEqual({ id: teacher, tenantId: schoolA });
    const versions = mine.map((c) => Number(c.serverVersion));
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    expect(new Set(versions).size).toBe(3);
    for (const change of seen) expect(change.payload.tenantId).toBe(schoolA);
  });

  it("the seed's example: an offline-created student is acknowledged, logged with its origin, and a second desk sees it", async () => {
    const student = randomUUID();
    const outboxEventId = randomUUID();
    const { cursor: before } = await catchUp(schoolA);
    const up = await call<SyncUpResponse>('/api/sync/up', schoolA, {
      clientId: 'desk-a',
      events: [
        {
          id: outboxEventId,
          tenantId: schoolA,
          entityType: 'STUDENT',
          entityId: student,
          operation: 'CREATE',
          payload: { id: student, tenantId: schoolA, firstName: 'Jean', lastName: 'DUPONT' },
          localVersion: 0,
          createdAt: new Date(Date.now() - 3_600_000).toISOString(),
          attemptCount: 2,
          status: 'PENDING',
        },
      ],
      lastSyncTimestamp: null,
    });
    expect(up.status).toBe(200);
    const ack = up.body.acknowledged[0]!;
    expect(ack).toMatchObject({ outboxEventId, entityId: student });

    const logged = await waitFor(async () => {
      const r = await db.pool.query(
        'SELECT origin_client_id, origin_outbox_event_id, server_version FROM sync_events WHERE entity_id = $1',
        [student],
      );
      return r.rows[0] as
        { origin_client_id: string; origin_outbox_event_id: string; server_version: number } | undefined;
    });
    expect(logged).toEqual({
      origin_client_id: 'desk-a',
      origin_outbox_event_id: outboxEventId,
      server_version: ack.serverVersion,
    });

    const { changes } = await catchUp(schoolA, before);
    expect(changes).toEqual([
      expect.objectContaining({
        entityType: 'STUDENT',
        entityId: student,
        operation: 'CREATE',
        serverVersion: ack.serverVersion,
        payload: expect.objectContaining({ firstName: 'Jean', lastName: 'DUPONT' }),
      }),
    ]);
  });

  it('an uploaded DELETE is logged with the serverVersion the desk was answered with', async () => {
    const teacher = randomUUID();
    const teacherEvent = (operation: OutboxEvent['operation'], payload: object, localVersion: number) => ({
      id: randomUUID(),
      tenantId: schoolA,
      entityType: 'TEACHER',
      entityId: teacher,
      operation,
      payload,
      localVersion,
      createdAt: new Date().toISOString(),
      attemptCount: 0,
    });
    const created = await call<SyncUpResponse>('/api/sync/up', schoolA, {
      clientId: 'desk-a',
      events: [teacherEvent('CREATE', { firstName: 'Moussa', lastName: 'Kane' }, 0)],
    });
    const version = created.body.acknowledged[0]!.serverVersion;
    const deleted = await call<SyncUpResponse>('/api/sync/up', schoolA, {
      clientId: 'desk-a',
      events: [teacherEvent('DELETE', {}, version)],
    });
    const deletion = deleted.body.acknowledged[0]!.serverVersion;
    expect(Number(deletion)).toBeGreaterThan(Number(version));
    const logged = await waitFor(async () => {
      const r = await db.pool.query(
        `SELECT server_version FROM sync_events WHERE entity_id = $1 AND operation = 'DELETE'`,
        [teacher],
      );
      return r.rows[0] as { server_version: number } | undefined;
    });
    expect(logged.server_version).toBe(deletion);

    // A later DELETE of the same, already gone, entity is acknowledged with that deletion's version.
    const again = await call<SyncUpResponse>('/api/sync/up', schoolA, {
      clientId: 'desk-b',
      events: [teacherEvent('DELETE', {}, version)],
    });
    expect(again.body.acknowledged[0]!.serverVersion).toBe(deletion);
  });

  it('a desk on /api/sync/ws receives a plain-SQL write live, after its backlog', async () => {
    const token = await signToken(TEST_JWT_SECRET, { sub: 'desk', tenantId: schoolB, role: 'desk' }, 600);
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/api/sync/ws`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const received: Change[] = [];
    const cursors: string[] = [];
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string; changes?: Change[]; cursor?: string };
      if (message.type === 'changes') received.push(...(message.changes ?? []));
      if (message.cursor !== undefined) cursors.push(message.cursor);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    try {
      socket.send(JSON.stringify({ type: 'hello', clientId: 'desk-live', cursor: null }));
      await waitFor(() => received.length >= 1, {
        message: 'the backlog (E1 wrote one teacher of school B)',
      });
      // The desk says it applied the backlog; what comes next and is not acked yet is its lag.
      socket.send(JSON.stringify({ type: 'ack', cursor: cursors.at(-1) }));
      await waitFor(async () =>
        /^sync_desks_acking 1$/m.test(await (await fetch(`${server.url}/metrics`)).text()),
      );
      const teacher = randomUUID();
      await db.pool.query(
        `INSERT INTO teachers (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'Live', 'Push')`,
        [schoolB, teacher],
      );
      await waitFor(() => received.some((c) => c.entityId === teacher), {
        timeoutMs: 5_000,
        message: 'the live change',
      });
      for (const change of received) expect(change.payload.tenantId).toBe(schoolB);
      // The push is measured: commit → handed to the tenant's desks.
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const pushes = /^sync_push_latency_seconds_count (\d+)/m.exec(metrics);
      expect(Number(pushes?.[1] ?? 0)).toBeGreaterThan(0);
      expect(metrics).toMatch(/^sync_desks_connected 1$/m);
      expect(metrics).toMatch(/^sync_desk_lag_events_max [1-9]\d*$/m);
    } finally {
      socket.close();
    }
  });

  it('/healthz reports the database up and this process leading capture', async () => {
    const health = await waitFor(async () => {
      const r = await fetch(`${server.url}/healthz`);
      const body = (await r.json()) as { status: string; capture?: { role: string } };
      return body.capture?.role === 'leader' ? body : null;
    });
    expect(health).toMatchObject({ status: 'ok', database: 'up', capture: { role: 'leader' } });
  });
});
