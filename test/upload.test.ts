import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTITY_TYPES } from '../shared/entities.ts';
import type { OutboxEvent, SyncUpResponse } from '../shared/protocol.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, startTestServer, type TestServer } from './support/http.ts';

type Body = Record<string, unknown>;

function event(
  tenantId: string,
  overrides: Partial<OutboxEvent> & Pick<OutboxEvent, 'entityType'>,
): OutboxEvent {
  return {
    id: randomUUID(),
    tenantId,
    entityId: randomUUID(),
    operation: 'CREATE',
    payload: {},
    localVersion: 0,
    createdAt: new Date().toISOString(),
    attemptCount: 0,
    ...overrides,
  };
}

describe('POST /api/sync/up', () => {
  let db: TestDatabase;
  let server: TestServer;
  let tenant: string;
  let otherTenant: string;
  let token: string;
  let classId: string;

  const up = async (events: OutboxEvent[], clientId = 'desk-a', t = token) => {
    const response = await server.post('/api/sync/up', { clientId, events }, { token: t });
    return response as { status: number; body: SyncUpResponse & Body };
  };
  const student = (overrides: Partial<OutboxEvent> = {}, payload: Body = {}) => {
    const entityId = overrides.entityId ?? randomUUID();
    return event(tenant, {
      entityType: 'STUDENT',
      entityId,
      payload: { id: entityId, tenantId: tenant, firstName: 'Awa', lastName: 'Diallo', classId, ...payload },
      ...overrides,
    });
  };
  /** An UPDATE of the student `of` creates, based on `localVersion`. */
  const studentUpdate = (of: OutboxEvent, localVersion: number, payload: Body) =>
    event(tenant, {
      entityType: 'STUDENT',
      entityId: of.entityId,
      operation: 'UPDATE',
      localVersion,
      payload,
    });
  /** A DELETE of the student `of` creates, based on `localVersion`. */
  const studentDelete = (of: OutboxEvent, localVersion: number) =>
    event(tenant, { entityType: 'STUDENT', entityId: of.entityId, operation: 'DELETE', localVersion });
  const versionOf = async (id: string): Promise<number | undefined> => {
    const r = await db.pool.query<{ server_version: number }>(
      'SELECT server_version FROM students WHERE id = $1',
      [id],
    );
    return r.rows[0]?.server_version;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    // Every type but TEACHER, which a desk may then not upload.
    server = await startTestServer(db.pool, {
      uploadEntityTypes: ENTITY_TYPES.filter((type) => type !== 'TEACHER'),
    });
    tenant = await createTenant(db.pool);
    otherTenant = await createTenant(db.pool, 'Other school');
    token = await server.token(tenant);
    const year = randomUUID();
    const level = randomUUID();
    classId = randomUUID();
    const setup = await up([
      event(tenant, {
        entityType: 'ACADEMIC_YEAR',
        entityId: year,
        payload: { label: '2026-2027', startDate: '2026-09-01', endDate: '2027-07-01' },
      }),
      event(tenant, { entityType: 'SCHOOL_LEVEL', entityId: level, payload: { name: 'CM2', rank: 5 } }),
      event(tenant, {
        entityType: 'CLASS',
        entityId: classId,
        payload: { name: 'CM2 A', schoolLevelId: level, academicYearId: year },
      }),
    ]);
    expect(setup.body.acknowledged).toHaveLength(3);
  });
  afterAll(async () => {
    await server.close();
    await db.drop();
  });

  it('a CREATE is acknowledged with the serverVersion the row now has, and is audited', async () => {
    const e = student();
    const { status, body } = await up([e], 'desk-u1');
    expect(status).toBe(200);
    expect(body.conflicts).toEqual([]);
    expect(body.rejected).toEqual([]);
    expect(body.acknowledged).toEqual([
      {
        outboxEventId: e.id,
        serverEventId: expect.any(String),
        entityId: e.entityId,
        serverVersion: await versionOf(e.entityId),
      },
    ]);
    const audit = await db.pool.query('SELECT * FROM sync_audit WHERE outbox_event_id = $1', [e.id]);
    expect(audit.rows).toMatchObject([
      {
        tenant_id: tenant,
        user_id: 'user-desk',
        client_id: 'desk-u1',
        outcome: 'ACKNOWLEDGED',
        entity_type: 'STUDENT',
        operation: 'CREATE',
      },
    ]);
    expect(audit.rows[0].version_after).toBe(body.acknowledged[0]!.serverVersion);
    // The sync_log row is written once the answer has left.
    const log = await waitFor(async () => {
      const r = await db.pool.query(
        `SELECT * FROM sync_log WHERE direction = 'UP' AND client_id = 'desk-u1'`,
      );
      return r.rows[0] as Body | undefined;
    });
    expect(log).toMatchObject({ tenant_id: tenant, events_count: 1, status: 'SUCCESS' });
  });

  it('a CREATE of an id that exists is a conflict carrying the server row', async () => {
    const e = student();
    await up([e]);
    const again = student({ entityId: e.entityId }, { firstName: 'Other' });
    const { body } = await up([again]);
    expect(body.acknowledged).toEqual([]);
    expect(body.conflicts).toEqual([
      {
        outboxEventId: again.id,
        reason: expect.any(String),
        serverData: expect.objectContaining({
          id: e.entityId,
          firstName: 'Awa',
          serverVersion: await versionOf(e.entityId),
        }),
      },
    ]);
  });

  it('an UPDATE whose localVersion is not the row serverVersion is a conflict; nothing is applied', async () => {
    const e = student();
    const created = await up([e]);
    const version = created.body.acknowledged[0]!.serverVersion;
    const stale = student(
      { entityId: e.entityId, operation: 'UPDATE', localVersion: version - 1 },
      { firstName: 'Stale' },
    );
    const { body } = await up([stale]);
    expect(body.conflicts[0]).toMatchObject({
      outboxEventId: stale.id,
      serverData: { firstName: 'Awa', serverVersion: version },
    });
    expect(await versionOf(e.entityId)).toBe(version);
    // The audit records the version the event met.
    const audit = await db.pool.query(
      'SELECT outcome, version_before, version_after FROM sync_audit WHERE outbox_event_id = $1',
      [stale.id],
    );
    expect(audit.rows).toEqual([{ outcome: 'CONFLICT', version_before: version, version_after: null }]);
  });

  it('an UPDATE on the current version is applied and bumps serverVersion', async () => {
    const e = student();
    const created = await up([e]);
    const version = created.body.acknowledged[0]!.serverVersion;
    const update = studentUpdate(e, version, { lastName: 'Sow' });
    const { body } = await up([update]);
    expect(body.acknowledged[0]!.serverVersion).toBeGreaterThan(version);
    const row = await db.pool.query('SELECT first_name, last_name FROM students WHERE id = $1', [e.entityId]);
    expect(row.rows[0]).toEqual({ first_name: 'Awa', last_name: 'Sow' });
  });

  it('an UPDATE of a deleted row is a conflict with serverData null', async () => {
    const e = student();
    const created = await up([e]);
    await db.pool.query('DELETE FROM students WHERE id = $1', [e.entityId]);
    const update = student({
      entityId: e.entityId,
      operation: 'UPDATE',
      localVersion: created.body.acknowledged[0]!.serverVersion,
    });
    const { body } = await up([update]);
    expect(body.conflicts).toEqual([
      { outboxEventId: update.id, reason: expect.any(String), serverData: null },
    ]);
  });

  it('a DELETE of a row already gone is acknowledged; a DELETE on the current version removes the row with a fresh version', async () => {
    const never = event(tenant, { entityType: 'STUDENT', operation: 'DELETE', localVersion: 3 });
    const gone = await up([never]);
    expect(gone.body.acknowledged).toEqual([
      {
        outboxEventId: never.id,
        serverEventId: expect.any(String),
        entityId: never.entityId,
        serverVersion: 0,
      },
    ]);

    const e = student();
    const version = (await up([e])).body.acknowledged[0]!.serverVersion;
    const del = studentDelete(e, version);
    const { body } = await up([del]);
    expect(body.acknowledged[0]!.serverVersion).toBeGreaterThan(version);
    expect(await versionOf(e.entityId)).toBeUndefined();
  });

  it('a DELETE on a stale version is a conflict and the row stays', async () => {
    const e = student();
    const version = (await up([e])).body.acknowledged[0]!.serverVersion;
    const del = studentDelete(e, version + 100);
    const { body } = await up([del]);
    expect(body.conflicts[0]).toMatchObject({ outboxEventId: del.id, serverData: { id: e.entityId } });
    expect(await versionOf(e.entityId)).toBe(version);
  });

  it('events on one entity chain inside a request: CREATE, then UPDATEs based on it, then DELETE', async () => {
    const e = student();
    const u1 = studentUpdate(e, 0, { lastName: 'Ba' });
    const u2 = studentUpdate(e, 0, { firstName: 'Fatou' });
    const { body } = await up([e, u1, u2]);
    expect(body.acknowledged.map((a) => a.outboxEventId)).toEqual([e.id, u1.id, u2.id]);
    const versions = body.acknowledged.map((a) => a.serverVersion);
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    expect(new Set(versions).size).toBe(3);
    const row = await db.pool.query(
      'SELECT first_name, last_name, server_version FROM students WHERE id = $1',
      [e.entityId],
    );
    expect(row.rows[0]).toEqual({ first_name: 'Fatou', last_name: 'Ba', server_version: versions[2] });
    const del = studentDelete(e, versions[2]!);
    const stale = studentUpdate(e, versions[2]!, { lastName: 'X' });
    const second = await up([del, stale]);
    expect(second.body.acknowledged.map((a) => a.outboxEventId)).toEqual([del.id]);
    expect(second.body.conflicts).toEqual([
      { outboxEventId: stale.id, reason: expect.any(String), serverData: null },
    ]);
  });

  it('VALIDATION rejections name the bad field, and server business rules are enforced', async () => {
    const noName = student({}, { firstName: 42 });
    const badDate = student({}, { birthDate: '2026-02-31' });
    const payment = event(tenant, {
      entityType: 'PAYMENT',
      payload: {
        studentId: randomUUID(),
        amountCents: 0,
        currency: 'XOF',
        paidAt: new Date().toISOString(),
        method: 'CASH',
      },
    });
    const nul = student({}, { lastName: 'a\u0000b' });
    const { body } = await up([noName, badDate, payment, nul]);
    expect(body.rejected).toEqual([
      // `rule` and `params` say the same as `reason` for a desk to word in its own language.
      {
        outboxEventId: noName.id,
        code: 'VALIDATION',
        reason: expect.stringContaining('payload.firstName'),
        rule: 'INVALID',
        params: { field: 'firstName' },
      },
      {
        outboxEventId: badDate.id,
        code: 'VALIDATION',
        reason: expect.stringContaining('payload.birthDate'),
        rule: 'DATE',
        params: { field: 'birthDate' },
      },
      {
        outboxEventId: payment.id,
        code: 'VALIDATION',
        reason: expect.stringContaining('payload.amountCents'),
        rule: 'ABOVE',
        params: { field: 'amountCents', limit: 0 },
      },
      {
        outboxEventId: nul.id,
        code: 'VALIDATION',
        reason: expect.stringContaining('payload.lastName'),
        rule: 'UNSTORABLE',
        params: { field: 'lastName' },
      },
    ]);
    for (const e of [noName, badDate, nul]) expect(await versionOf(e.entityId)).toBeUndefined();
  });

  it("a GRADE's score must lie within 0..its exam's maxScore", async () => {
    const s = student();
    const exam = event(tenant, {
      entityType: 'EXAM',
      payload: { classId, subject: 'Maths', date: '2026-10-10', maxScore: 20 },
    });
    const ok = event(tenant, {
      entityType: 'GRADE',
      payload: { examId: exam.entityId, studentId: s.entityId, score: 20 },
    });
    const over = event(tenant, {
      entityType: 'GRADE',
      payload: { examId: exam.entityId, studentId: s.entityId, score: 20.5 },
    });
    const negative = event(tenant, {
      entityType: 'GRADE',
      payload: { examId: exam.entityId, studentId: s.entityId, score: -1 },
    });
    const { body } = await up([s, exam, ok, over, negative]);
    expect(body.acknowledged.map((a) => a.outboxEventId)).toEqual([s.id, exam.id, ok.id]);
    expect(body.rejected).toEqual([
      {
        outboxEventId: over.id,
        code: 'VALIDATION',
        reason: expect.stringContaining('payload.score'),
        rule: 'SCORE_ABOVE_MAX',
        params: { field: 'score', limit: 20 },
      },
      {
        outboxEventId: negative.id,
        code: 'VALIDATION',
        reason: expect.stringContaining('payload.score'),
        rule: 'MIN',
        params: { field: 'score', limit: 0 },
      },
    ]);
  });

  it('TENANT_MISMATCH is rejected and audited; nothing of the other tenant is touched', async () => {
    const foreign = event(otherTenant, { entityType: 'TEACHER', payload: { firstName: 'A', lastName: 'B' } });
    const payloadTenant = student({}, { tenantId: otherTenant });
    const { body } = await up([foreign, payloadTenant]);
    expect(body.rejected.map((r) => [r.outboxEventId, r.code])).toEqual([
      [foreign.id, 'TENANT_MISMATCH'],
      [payloadTenant.id, 'TENANT_MISMATCH'],
    ]);
    const audit = await db.pool.query(`SELECT outcome, code FROM sync_audit WHERE outbox_event_id = $1`, [
      foreign.id,
    ]);
    expect(audit.rows).toEqual([{ outcome: 'REJECTED', code: 'TENANT_MISMATCH' }]);
    const other = await db.pool.query('SELECT count(*)::int AS n FROM teachers WHERE tenant_id = $1', [
      otherTenant,
    ]);
    expect(other.rows[0].n).toBe(0);
  });

  it('UNKNOWN_ENTITY_TYPE, FORBIDDEN (a type desks may not write) and REFERENCE rejections', async () => {
    const unknown = event(tenant, { entityType: 'SPACESHIP', payload: {} });
    const forbidden = event(tenant, { entityType: 'TEACHER', payload: { firstName: 'A', lastName: 'B' } });
    const dangling = student({}, { classId: randomUUID() });
    const { body } = await up([unknown, forbidden, dangling]);
    expect(body.rejected.map((r) => [r.outboxEventId, r.code])).toEqual([
      [unknown.id, 'UNKNOWN_ENTITY_TYPE'],
      [forbidden.id, 'FORBIDDEN'],
      [dangling.id, 'REFERENCE'],
    ]);
    expect(body.rejected[2]!.reason).toContain('payload.classId');
    expect(await versionOf(dangling.entityId)).toBeUndefined();
  });

  it('a role that may not upload gets 403 FORBIDDEN for the whole request', async () => {
    const dba = await server.token(tenant, 'dba');
    const e = student();
    const { status, body } = await up([e], 'desk-a', dba);
    expect(status).toBe(403);
    expect(body.code).toBe('FORBIDDEN');
    expect(await versionOf(e.entityId)).toBeUndefined();
  });

  it('I7: the same batch sent twice gets the same answer and is applied once', async () => {
    const e = student();
    const u = studentUpdate(e, 0, { lastName: 'Twice' });
    const first = await up([e, u]);
    const version = await versionOf(e.entityId);
    const second = await up([e, u], 'desk-b');
    expect(second.body.acknowledged).toEqual(first.body.acknowledged);
    expect(await versionOf(e.entityId)).toBe(version);
    const results = await db.pool.query(
      'SELECT count(*)::int AS n FROM sync_audit WHERE outbox_event_id = ANY($1)',
      [[e.id, u.id]],
    );
    expect(results.rows[0].n).toBe(2);
  });

  it('two identical batches in parallel are applied once and both get the same answer', async () => {
    for (let round = 0; round < 10; round++) {
      const events = Array.from({ length: 20 }, () => student());
      const [a, b] = await Promise.all([up(events, 'desk-a'), up(events, 'desk-b')]);
      expect(a.status).toBe(200);
      expect(b.body.acknowledged).toEqual(a.body.acknowledged);
      expect(a.body.acknowledged).toHaveLength(20);
      const versions = await db.pool.query<{ server_version: number }>(
        'SELECT server_version FROM students WHERE id = ANY($1) ORDER BY server_version',
        [events.map((e) => e.entityId)],
      );
      expect(versions.rows.map((r) => r.server_version).sort()).toEqual(
        a.body.acknowledged.map((x) => x.serverVersion).sort(),
      );
    }
  });

  it('two desks updating one row on the same base version: exactly one is acknowledged, the other conflicts', async () => {
    for (let round = 0; round < 25; round++) {
      const e = student();
      const version = (await up([e])).body.acknowledged[0]!.serverVersion;
      const edit = (name: string) => studentUpdate(e, version, { firstName: name });
      const [a, b] = await Promise.all([up([edit('A')], 'desk-a'), up([edit('B')], 'desk-b')]);
      const acks = a.body.acknowledged.length + b.body.acknowledged.length;
      const conflicts = a.body.conflicts.length + b.body.conflicts.length;
      expect([acks, conflicts]).toEqual([1, 1]);
      const winner = a.body.acknowledged.length === 1 ? 'A' : 'B';
      const row = await db.pool.query('SELECT first_name FROM students WHERE id = $1', [e.entityId]);
      expect(row.rows[0].first_name).toBe(winner);
    }
  });

  it('a batch mixing every outcome answers each event in its list, in the order sent', async () => {
    const good = student();
    const existing = student();
    await up([existing]);
    const conflict = student({ entityId: existing.entityId });
    const invalid = student({}, { lastName: '' });
    const good2 = student();
    const { body } = await up([good, conflict, invalid, good2], 'desk-u17');
    expect(body.acknowledged.map((a) => a.outboxEventId)).toEqual([good.id, good2.id]);
    expect(body.conflicts.map((c) => c.outboxEventId)).toEqual([conflict.id]);
    expect(body.rejected.map((r) => r.outboxEventId)).toEqual([invalid.id]);
    const log = await waitFor(async () => {
      const r = await db.pool.query(
        `SELECT status, events_count, conflicts_count, rejected_count FROM sync_log WHERE client_id = 'desk-u17'`,
      );
      return r.rows[0] as Body | undefined;
    });
    expect(log).toEqual({ status: 'PARTIAL', events_count: 4, conflicts_count: 1, rejected_count: 1 });
  });

  it('a bad envelope is 400 and nothing of the request is applied', async () => {
    const good = student();
    const cases: unknown[] = [
      [],
      'not json at all',
      { clientId: 'x' },
      { clientId: 'x', events: 'nope' },
      { clientId: 'x', events: [good, { ...student(), id: 'not-a-uuid' }] },
      { clientId: 'x', events: [good, { ...student(), operation: 'MERGE' }] },
      { clientId: 'x', events: [good, { ...student(), payload: [1, 2] }] },
      { clientId: 'x', events: [good, { ...student(), localVersion: 1.5 }] },
    ];
    for (const body of cases) {
      const response = await server.post('/api/sync/up', body, { token });
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect((response.body as Body).code).toMatch(/^[A-Z_]+$/);
    }
    expect(await versionOf(good.entityId)).toBeUndefined();
  });

  it('more events than the limit, or a body over the size limit, is 413', async () => {
    const small = await startTestServer(db.pool, { limits: { uploadMaxEvents: 3, uploadMaxBytes: 4096 } });
    try {
      const many = await small.post(
        '/api/sync/up',
        { clientId: 'x', events: [student(), student(), student(), student()] },
        { token },
      );
      expect(many.status).toBe(413);
      expect((many.body as Body).code).toBe('TOO_MANY_EVENTS');
      const big = await small.post(
        '/api/sync/up',
        { clientId: 'x', events: [student({}, { notes: 'x'.repeat(5000) })] },
        { token },
      );
      expect(big.status).toBe(413);
      expect((big.body as Body).code).toBe('PAYLOAD_TOO_LARGE');
    } finally {
      await small.close();
    }
  });

  it('ACCEPT_SERVER is recorded and acknowledged; a repeat gets the same answer', async () => {
    const e = student();
    const version = (await up([e])).body.acknowledged[0]!.serverVersion;
    const stale = student({ entityId: e.entityId, operation: 'UPDATE', localVersion: version - 1 });
    const conflict = (await up([stale])).body.conflicts[0]!;
    const resolve = () =>
      server.post(
        `/api/sync/conflicts/${stale.id}/resolve`,
        { choice: 'ACCEPT_SERVER', serverVersion: version },
        { token },
      );
    const first = await resolve();
    expect(first.status).toBe(200);
    expect((first.body as SyncUpResponse).acknowledged).toEqual([
      {
        outboxEventId: stale.id,
        serverEventId: expect.any(String),
        entityId: e.entityId,
        serverVersion: version,
      },
    ]);
    expect(conflict.serverData).toMatchObject({ serverVersion: version });
    expect((await resolve()).body).toMatchObject({
      acknowledged: (first.body as SyncUpResponse).acknowledged,
    });
    expect(await versionOf(e.entityId)).toBe(version);
    const audit = await db.pool.query(
      `SELECT outcome FROM sync_audit WHERE outbox_event_id = $1 ORDER BY id`,
      [stale.id],
    );
    expect(audit.rows.map((r) => r.outcome)).toEqual(['CONFLICT', 'RESOLVED_ACCEPT_SERVER']);
  });

  it('KEEP_LOCAL applies the payload on top of serverVersion, or is a new conflict if the row moved again', async () => {
    const e = student();
    const version = (await up([e])).body.acknowledged[0]!.serverVersion;
    const stale = student(
      { entityId: e.entityId, operation: 'UPDATE', localVersion: version - 1 },
      { firstName: 'Mine' },
    );
    await up([stale]);
    await db.pool.query(`UPDATE students SET last_name = 'Moved' WHERE id = $1`, [e.entityId]);
    const moved = await versionOf(e.entityId);
    const late = await server.post(
      `/api/sync/conflicts/${stale.id}/resolve`,
      { choice: 'KEEP_LOCAL', payload: stale.payload, serverVersion: version },
      { token },
    );
    expect((late.body as SyncUpResponse).conflicts[0]).toMatchObject({
      outboxEventId: stale.id,
      serverData: { lastName: 'Moved', serverVersion: moved },
    });
    const kept = await server.post(
      `/api/sync/conflicts/${stale.id}/resolve`,
      { choice: 'KEEP_LOCAL', payload: stale.payload, serverVersion: moved },
      { token },
    );
    const ack = (kept.body as SyncUpResponse).acknowledged[0]!;
    expect(ack.serverVersion).toBeGreaterThan(moved!);
    const row = await db.pool.query('SELECT first_name, last_name FROM students WHERE id = $1', [e.entityId]);
    expect(row.rows[0]).toEqual({ first_name: 'Mine', last_name: 'Diallo' });
  });

  it('KEEP_LOCAL re-creates an entity that was deleted meanwhile', async () => {
    const e = student();
    const version = (await up([e])).body.acknowledged[0]!.serverVersion;
    await db.pool.query('DELETE FROM students WHERE id = $1', [e.entityId]);
    const update = student(
      { entityId: e.entityId, operation: 'UPDATE', localVersion: version },
      { firstName: 'Back' },
    );
    expect((await up([update])).body.conflicts[0]!.serverData).toBeNull();
    const kept = await server.post(
      `/api/sync/conflicts/${update.id}/resolve`,
      { choice: 'KEEP_LOCAL', payload: update.payload, serverVersion: 0 },
      { token },
    );
    expect((kept.body as SyncUpResponse).acknowledged).toHaveLength(1);
    const row = await db.pool.query('SELECT first_name FROM students WHERE id = $1', [e.entityId]);
    expect(row.rows[0]).toEqual({ first_name: 'Back' });
  });

  it('resolving an outbox event that never met a conflict is 404 UNKNOWN_CONFLICT', async () => {
    const e = student();
    await up([e]);
    for (const id of [e.id, randomUUID(), 'garbage']) {
      const response = await server.post(
        `/api/sync/conflicts/${id}/resolve`,
        { choice: 'ACCEPT_SERVER', serverVersion: 1 },
        { token },
      );
      expect(response.status).toBe(404);
      expect((response.body as Body).code).toBe('UNKNOWN_CONFLICT');
    }
    const otherToken = await server.token(otherTenant);
    const stale = student({ entityId: e.entityId });
    await up([stale]);
    const foreign = await server.post(
      `/api/sync/conflicts/${stale.id}/resolve`,
      { choice: 'ACCEPT_SERVER', serverVersion: 1 },
      { token: otherToken },
    );
    expect(foreign.status).toBe(404);
  });
});
