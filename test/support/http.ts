import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Role } from '../../shared/protocol.ts';
import { signToken } from '../../server/auth/tokens.ts';
import { loadEnv } from '../../server/config/env.ts';
import { parseSyncRules, type SyncRules } from '../../server/config/rules.ts';
import type { Pool } from '../../server/db/pool.ts';
import { buildApp } from '../../server/http/app.ts';
import { startServer, type RunningServer } from '../../server/server.ts';
import { silentLog, type TestDatabase } from './db.ts';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123';

/** A real HTTP server on a loopback port, over `pool`, with helpers to call it the way a desk does. */
export interface TestServer {
  url: string;
  app: FastifyInstance;
  rules: SyncRules;
  token(tenantId: string, role?: Role, ttlSeconds?: number): Promise<string>;
  /** POSTs `body` as JSON (or as given when it is a string) with a bearer token when `token` is given. */
  post(
    path: string,
    body: unknown,
    options?: { token?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: unknown; text: string }>;
  close(): Promise<void>;
}

/**
 * The whole server as `npm start` wires it (migrations, capture, push, HTTP) on a test database, with a
 * slot and publication of its own (slot names are cluster-wide).
 */
export function startFullServer(db: TestDatabase): Promise<RunningServer> {
  const env = loadEnv({
    DATABASE_URL: db.url,
    PORT: '0',
    SYNC_JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
  });
  const rules = parseSyncRules({
    capture: { slotName: `slot_${db.name}`, publicationName: `pub_${db.name}` },
  });
  return startServer(env, rules, silentLog);
}

/** Starts `app` listening on 127.0.0.1 at `port` (0: any free port); returns the port. */
export async function listenOnLoopback(app: FastifyInstance, port = 0): Promise<number> {
  await app.listen({ port, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address !== 'object') throw new Error('server has no port');
  return address.port;
}

export async function startTestServer(pool: Pool, rulesInput: unknown = {}): Promise<TestServer> {
  const rules = parseSyncRules(rulesInput);
  const app = await buildApp(silentLog, { pool, rules, jwtSecret: TEST_JWT_SECRET });
  const url = `http://127.0.0.1:${await listenOnLoopback(app)}`;
  return {
    url,
    app,
    rules,
    token: (tenantId, role = 'desk', ttlSeconds = 3600) =>
      signToken(TEST_JWT_SECRET, { sub: `user-${role}`, tenantId, role }, ttlSeconds),
    async post(path, body, options = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers,
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = undefined;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: response.status, body: parsed, text };
    },
    close: () => app.close(),
  };
}

export async function createTenant(pool: Pool, name = 'School'): Promise<string> {
  const id = randomUUID();
  await pool.query('INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, name]);
  return id;
}

/**
 * Writes straight into the tables, for `tenantId`: an academic year labelled `yearLabel` (2026-09-01 to
 * 2027-07-01), the level CM2, its class CM2 A and a Maths exam of that class on `examDate`, out of 20.
 */
export async function seedExam(
  pool: Pool,
  tenantId: string,
  { yearLabel, examDate }: { yearLabel: string; examDate: string },
): Promise<{ classId: string; examId: string }> {
  const [year, level, classId, examId] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await pool.query(
    `WITH y AS (INSERT INTO academic_years (tenant_id, id, label, start_date, end_date)
                VALUES ($1, $2, $4, '2026-09-01', '2027-07-01')),
          l AS (INSERT INTO school_levels (tenant_id, id, name, rank) VALUES ($1, $3, 'CM2', 5))
     SELECT 1`,
    [tenantId, year, level, yearLabel],
  );
  await pool.query(
    `INSERT INTO classes (tenant_id, id, name, school_level_id, academic_year_id) VALUES ($1, $2, 'CM2 A', $3, $4)`,
    [tenantId, classId, level, year],
  );
  await pool.query(
    `INSERT INTO exams (tenant_id, id, class_id, subject, date, max_score) VALUES ($1, $2, $3, 'Maths', $4, 20)`,
    [tenantId, examId, classId, examDate],
  );
  return { classId, examId };
}

/**
 * Appends `count` events of `entityType` for a tenant straight into sync_events (capture's table), one
 * transaction, with commit times `modifiedAt` (default now). Returns their ids in order.
 */
export async function insertEvents(
  pool: Pool,
  options: { tenantId: string; count: number; entityType?: string; modifiedAt?: Date },
): Promise<number[]> {
  const result = await pool.query<{ id: number }>(
    `INSERT INTO sync_events (tenant_id, entity_type, entity_id, operation, payload, server_version,
       commit_lsn, xid, modified_at)
     SELECT $1, $2, e.entity_id, 'CREATE',
       jsonb_build_object('id', e.entity_id, 'tenantId', $1::uuid, 'firstName', 'Awa', 'lastName', 'Diallo',
         'n', e.g),
       nextval('server_version_seq'), '0/16B3748', 1000, $4
     FROM (SELECT g, gen_random_uuid() AS entity_id FROM generate_series(1, $3::integer) AS g) AS e
     ORDER BY e.g
     RETURNING id`,
    [options.tenantId, options.entityType ?? 'STUDENT', options.count, options.modifiedAt ?? new Date()],
  );
  return result.rows.map((row) => row.id).sort((a, b) => a - b);
}
