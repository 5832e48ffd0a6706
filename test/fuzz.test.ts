import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxEvent, SyncUpResponse } from '../shared/protocol.ts';
import { signToken } from '../server/auth/tokens.ts';
import type { RunningServer } from '../server/server.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { Chooser, mutateBytes, mutateValue, prng, serialize } from './support/fuzz.ts';
import { createTenant, seedExam, startFullServer, TEST_JWT_SECRET } from './support/http.ts';

/**
 * Seeded fuzzing of every route a desk calls, and of socket frames: valid requests, mutated by value
 * (hostile strings, numbers, types, keys, deep JSON anywhere) or by bytes. Whatever arrives, the answer is
 * never a 5xx, every error is JSON with a stable code, and nothing of a refused request is applied.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const CASES = { up: 1500, down: 300, snapshot: 300, checksum: 150, history: 200, resolve: 300, socket: 300 };

type Answer = { status: number; body: unknown; text: string };

describe('fuzzing every desk route and socket frames', () => {
  let db: TestDatabase;
  let server: RunningServer;
  let tenant: string;
  let token: string;
  let examId: string;
  let conflictId: string;
  const existing: { id: string; version: number }[] = [];

  const send = async (path: string, body: string | Buffer): Promise<Answer> => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed, text };
  };

  /** No 5xx; a refusal is a JSON error body with an UPPER_SNAKE code. */
  const expectSafe = (answer: Answer, label: string): void => {
    expect(answer.status, `${label}: ${answer.text.slice(0, 300)}`).toBeLessThan(500);
    if (answer.status >= 400) {
      expect(answer.body, label).toMatchObject({
        statusCode: answer.status,
        code: expect.stringMatching(/^[A-Z][A-Z_]+$/),
      });
    }
  };

  const validEvent = (c: Chooser): OutboxEvent => {
    const base = { id: randomUUID(), tenantId: tenant, createdAt: new Date().toISOString(), attemptCount: 0 };
    const target = c.pick(existing);
    switch (c.int(4)) {
      case 0: {
        const entityId = randomUUID();
        return {
          ...base,
          entityType: 'GRADE',
          entityId,
          operation: 'CREATE',
          localVersion: 0,
          payload: { examId, studentId: target.id, score: c.int(20) },
        };
      }
      case 1:
        return {
          ...base,
          entityType: 'STUDENT',
          entityId: target.id,
          operation: 'UPDATE',
          localVersion: target.version,
          payload: { notes: `fuzz ${c.int(1e6)}` },
        };
      default: {
        const entityId = randomUUID();
        return {
          ...base,
          entityType: 'STUDENT',
          entityId,
          operation: 'CREATE',
          localVersion: 0,
          payload: { id: entityId, firstName: 'Awa', lastName: `Fuzz${c.int(1e6)}` },
        };
      }
    }
  };

  /** A valid body, then (mostly) broken: by value seven times in ten, else by bytes. */
  const mutated = (valid: unknown, c: Chooser): string | Buffer => {
    if (c.chance(0.05)) return serialize(valid);
    if (c.chance(0.7)) return serialize(mutateValue(valid, c));
    return mutateBytes(serialize(valid), c);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startFullServer(db);
    tenant = await createTenant(db.pool);
    token = await signToken(TEST_JWT_SECRET, { sub: 'fuzz', tenantId: tenant, role: 'desk' }, 3600);
    ({ examId } = await seedExam(db.pool, tenant, { yearLabel: '2026', examDate: '2026-11-02' }));
    const students = await db.pool.query<{ id: string; server_version: number }>(
      `INSERT INTO students (tenant_id, id, first_name, last_name)
       SELECT $1, gen_random_uuid(), 'Seed', 'Student ' || g FROM generate_series(1, 20) g RETURNING id, server_version`,
      [tenant],
    );
    for (const row of students.rows) existing.push({ id: row.id, version: Number(row.server_version) });
    // One real conflict, for /resolve bodies to aim at.
    const first = existing[0]!;
    const stale = {
      ...validEvent(new Chooser(prng(1))),
      entityType: 'STUDENT',
      entityId: first.id,
      operation: 'UPDATE' as const,
      localVersion: 1,
      payload: { notes: 'stale' },
    };
    const answer = await send('/api/sync/up', JSON.stringify({ clientId: 'fuzz', events: [stale] }));
    expect((answer.body as SyncUpResponse).conflicts).toHaveLength(1);
    conflictId = stale.id;
  });
  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  it('POST /api/sync/up: no 5xx, each event in exactly one list, nothing of a refused request or event applied', async () => {
    const c = new Chooser(prng(SEED));
    const refusedEntityIds: string[] = [];
    const refusedEventIds: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < CASES.up; i++) {
      const events = Array.from({ length: 1 + c.int(3) }, () => validEvent(c));
      const body = mutated({ clientId: 'fuzz-desk', events }, c);
      const answer = await send('/api/sync/up', body);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      expectSafe(answer, `up #${i}`);
      if (answer.status !== 200) {
        for (const e of events) {
          if (e.operation === 'CREATE') refusedEntityIds.push(e.entityId);
          refusedEventIds.push(e.id);
        }
        continue;
      }
      const response = answer.body as SyncUpResponse;
      const listed = [...response.acknowledged, ...response.conflicts, ...response.rejected].map(
        (e) => e.outboxEventId,
      );
      expect(new Set(listed).size, `up #${i}`).toBe(listed.length);
      for (const e of events) {
        const settled = response.acknowledged.some((a) => a.outboxEventId === e.id);
        if (!settled && e.operation === 'CREATE' && listed.includes(e.id)) refusedEntityIds.push(e.entityId);
      }
    }
    // Both sides of the contract were exercised: many refusals, and many batches that applied.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(CASES.up / 10);
    const refusedRequests = [...statuses].filter(([status]) => status >= 400).reduce((n, [, k]) => n + k, 0);
    expect(refusedRequests).toBeGreaterThan(CASES.up / 10);
    const rows = await db.pool.query(
      `SELECT count(*)::int AS n FROM (SELECT id FROM students UNION ALL SELECT id FROM grades) t WHERE id = ANY($1::uuid[])`,
      [refusedEntityIds],
    );
    expect(rows.rows[0].n).toBe(0);
    const stored = await db.pool.query(
      'SELECT count(*)::int AS n FROM sync_upload_results WHERE outbox_event_id = ANY($1::uuid[])',
      [refusedEventIds],
    );
    expect(stored.rows[0].n).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('POST /api/sync/down, /snapshot, /checksum, /history and /resolve: no 5xx, JSON errors with a code', async () => {
    const c = new Chooser(prng(SEED + 1));
    const first = await send('/api/sync/down', JSON.stringify({ clientId: 'fuzz', limit: 5 }));
    expect(first.status).toBe(200);
    const cursor = (first.body as { cursor: string }).cursor;
    const snap = await send('/api/sync/snapshot', JSON.stringify({ clientId: 'fuzz', limit: 2 }));
    const pageToken = (snap.body as { pageToken?: string }).pageToken;
    const bodies: [string, number, () => unknown][] = [
      [
        '/api/sync/down',
        CASES.down,
        () => ({
          clientId: 'fuzz',
          cursor: c.pick([cursor, null]),
          entityTypes: ['STUDENT', 'GRADE'],
          limit: 1 + c.int(50),
        }),
      ],
      [
        '/api/sync/snapshot',
        CASES.snapshot,
        () => ({
          clientId: 'fuzz',
          entityTypes: ['STUDENT'],
          limit: 1 + c.int(20),
          ...(c.chance(0.5) && pageToken !== undefined ? { pageToken } : {}),
        }),
      ],
      [
        '/api/sync/checksum',
        CASES.checksum,
        () => ({ clientId: 'fuzz', entityTypes: c.pick([['STUDENT'], ['GRADE', 'EXAM']]) }),
      ],
      [
        '/api/sync/history',
        CASES.history,
        () => ({
          entityType: 'STUDENT',
          entityId: c.pick(existing).id,
          limit: 1 + c.int(50),
          ...(c.chance(0.5) ? { before: `h${c.int(1e6)}.${c.int(1e15)}` } : {}),
        }),
      ],
    ];
    for (const [path, count, valid] of bodies) {
      for (let i = 0; i < count; i++) expectSafe(await send(path, mutated(valid(), c)), `${path} #${i}`);
    }
    const target = existing[0]!;
    for (let i = 0; i < CASES.resolve; i++) {
      const id = c.chance(0.8) ? conflictId : c.pick([randomUUID(), 'x', '\u0000', '%00', 'A'.repeat(5000)]);
      const valid = {
        choice: c.pick(['KEEP_LOCAL', 'ACCEPT_SERVER']),
        payload: { notes: 'kept' },
        serverVersion: target.version,
      };
      const answer = await send(`/api/sync/conflicts/${encodeURIComponent(id)}/resolve`, mutated(valid, c));
      expectSafe(answer, `resolve #${i}`);
    }
  });

  it('socket frames: a bad hello or ack is answered with an error or a 44xx close, never a server failure', async () => {
    const c = new Chooser(prng(SEED + 2));
    const wsUrl = `${server.url.replace(/^http/, 'ws')}/api/sync/ws`;
    const closes = new Map<number, number>();
    for (let i = 0; i < CASES.socket; i++) {
      const socket = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      const frames: unknown[] = [];
      socket.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString())));
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      const hello = { type: 'hello', clientId: 'fuzz-socket', cursor: null, entityTypes: ['STUDENT'] };
      const helloFrame = c.chance(0.5) ? mutated(hello, c) : serialize(hello);
      socket.send(helloFrame);
      for (let n = c.int(4); n > 0; n--) socket.send(mutated({ type: 'ack', cursor: 'x' }, c));
      // Either the server closes (bad hello) or the socket lives on: then it has answered the hello.
      const code = await Promise.race([
        closed,
        waitFor(() => frames.length > 0, { timeoutMs: 5000 }).then(() => 0),
      ]);
      if (code === 0) {
        socket.close(1000);
        await closed;
      }
      closes.set(code, (closes.get(code) ?? 0) + 1);
      expect([0, 1000, 1008, 1009, 1013, 4400, 4401], `socket #${i} closed ${code}`).toContain(code);
      for (const frame of frames) {
        expect(frame, `socket #${i}`).toMatchObject({
          type: expect.stringMatching(/^(changes|error|resync)$/),
        });
        if ((frame as { type: string }).type === 'error')
          expect((frame as { code: string }).code).toMatch(/^[A-Z][A-Z_]+$/);
      }
    }
    expect(closes.get(4400) ?? 0).toBeGreaterThan(0);
    expect(closes.get(0) ?? 0).toBeGreaterThan(0);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
