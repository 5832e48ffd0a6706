import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePublication, ensureSlot } from '../server/capture/setup.ts';
import { parseSyncRules, type SyncRules } from '../server/config/rules.ts';
import { encodeCursor } from '../server/log/cursor.ts';
import { checkPosition, readTenantLogState } from '../server/log/tenant-log.ts';
import { replicationStatusSchema, type ReplicationStatus } from '../server/ops/status-schema.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { createTenant, insertEvents } from './support/http.ts';
import { runSyncAdmin, type ProcessRun } from './support/run-process.ts';

const DAY_MS = 86_400_000;

let db: TestDatabase;
let dir: string;
let rules: SyncRules;
let env: Record<string, string>;

/** The real command (bin launcher, tsx, child process), stdin not a terminal. */
function sync(args: string[], extraEnv: Record<string, string> = {}): Promise<ProcessRun> {
  return runSyncAdmin(args, {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, SYNC_DATA_DIR: dir, ...env, ...extraEnv },
    stdin: 'ignore',
  });
}

async function statusJson(): Promise<ReplicationStatus> {
  const run = await sync(['status', '--json']);
  expect(run.code, run.stderr).toBe(0);
  return replicationStatusSchema.parse(JSON.parse(run.stdout));
}

async function slotRow(): Promise<{ restart_lsn: string; confirmed_flush_lsn: string } | undefined> {
  const result = await db.pool.query<{ restart_lsn: string; confirmed_flush_lsn: string }>(
    'SELECT restart_lsn::text, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
    [rules.capture.slotName],
  );
  return result.rows[0];
}

async function published(table: string): Promise<boolean> {
  const result = await db.pool.query(
    'SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = $2',
    [rules.capture.publicationName, table],
  );
  return result.rowCount === 1;
}

async function replicaIdentity(table: string): Promise<string> {
  const result = await db.pool.query<{ r: string }>(
    'SELECT relreplident AS r FROM pg_class WHERE oid = to_regclass($1)',
    [table],
  );
  return result.rows[0]!.r;
}

async function tenantLog(tenantId: string): Promise<{ epoch: number; floor_id: number }> {
  const result = await db.pool.query<{ epoch: number; floor_id: number }>(
    'SELECT coalesce(max(epoch), 0) AS epoch, coalesce(max(floor_id), 0) AS floor_id FROM sync_tenant_log WHERE tenant_id = $1',
    [tenantId],
  );
  return result.rows[0]!;
}

async function resyncCode(tenantId: string, cursor: { epoch: number; eventId: number } | null) {
  const state = await readTenantLogState(db.pool, tenantId);
  try {
    checkPosition(cursor, state);
    return 'OK';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe('sync-admin operations', () => {
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'sync-admin-ops-'));
    const file = {
      capture: { slotName: `slot_${db.name}`, publicationName: 'sync_pub' },
      retention: { syncLogDays: 30, auditDays: 365 },
    };
    writeFileSync(join(dir, 'sync-rules.json'), JSON.stringify(file));
    rules = parseSyncRules(file);
    env = { DATABASE_URL: db.url, SYNC_CONFIG: join(dir, 'sync-rules.json') };
    await ensurePublication(db.pool, rules);
    await ensureSlot(db.pool, rules.capture.slotName);
    await db.pool.query('CREATE TABLE notes (tenant_id uuid NOT NULL, id uuid PRIMARY KEY, body text)');
    await db.pool.query('CREATE TABLE scratch (id serial PRIMARY KEY, body text)');
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status reports slot, publication with REPLICA IDENTITY, capture progress and log per tenant, as a table and as JSON', async () => {
    const tenant = await createTenant(db.pool, 'Lycée Status');
    const ids = await insertEvents(db.pool, { tenantId: tenant, count: 5 });
    await db.pool.query(
      `UPDATE sync_capture_state SET leader = 'node-a:42', last_commit_lsn = '0/1234', events_stored = 5,
         partial_commit_lsn = '0/5678', partial_changes = 40000, last_commit_time = now() WHERE slot_name = $1`,
      [rules.capture.slotName],
    );

    const status = await statusJson();
    expect(status.slot).toMatchObject({
      name: rules.capture.slotName,
      exists: true,
      active: false,
      walStatus: 'reserved',
      database: db.name,
    });
    expect(status.slot.retainedBytes).toBeGreaterThan(0);
    expect(status.slot.lagBytes).toBeGreaterThan(0);
    expect(status.publication.tables).toHaveLength(11);
    expect(status.publication.tables).toContainEqual({
      schema: 'public',
      name: 'students',
      replicaIdentity: 'full',
      hasTenantId: true,
      entityType: 'STUDENT',
    });
    expect(status.capture).toMatchObject({
      leader: 'node-a:42',
      leaderConnected: false,
      lastLsn: '0/1234',
      largeTransaction: { commitLsn: '0/5678', changesStored: 40000 },
      eventsStored: 5,
      eventsPerSecond: 0,
    });
    expect(status.log).toMatchObject({ rows: 5, rowsExact: true, lastEventId: ids.at(-1) });
    expect(status.log.bytes).toBeGreaterThan(0);
    expect(status.log.tenants).toContainEqual(
      expect.objectContaining({
        tenantId: tenant,
        epoch: 0,
        floorId: 0,
        oldestEventId: ids[0],
        oldestCursor: 'c1.0.0',
      }),
    );
    expect(status.warnings.map((w) => w.code).sort()).toEqual(['CAPTURE_NO_LEADER', 'SLOT_INACTIVE']);

    const table = await sync(['status']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(
      new RegExp(`^slot ${rules.capture.slotName}: INACTIVE, wal_status reserved$`, 'm'),
    );
    expect(table.stdout).toMatch(/^ {2}retained WAL \d+(\.\d)? (B|KiB|MiB)\s+lag /m);
    expect(table.stdout).toMatch(
      /^publication sync_pub: 11 tables, publishes insert, update, delete, truncate$/m,
    );
    expect(table.stdout).toMatch(/^public\.students\s+FULL\s+yes\s+STUDENT$/m);
    expect(table.stdout).toMatch(/^capture: leader node-a:42 \(no leader connected\)$/m);
    expect(table.stdout).toMatch(/^ {2}storing a large transaction \(commit 0\/5678\) in pieces: 40000 of/m);
    expect(table.stdout).toMatch(/^sync_events: 5 rows, /m);
    expect(table.stdout).toMatch(
      new RegExp(`^${tenant}\\s+Lycée Status\\s+0\\s+0\\s+c1\\.0\\.0\\s+\\d{4}-`, 'm'),
    );
    expect(table.stdout).toMatch(/^ {2}WARNING SLOT_INACTIVE: /m);
  });

  it('status warns about an unpublished entity table, a published table without tenant_id or FULL identity, and a missing slot', async () => {
    const pub = rules.capture.publicationName;
    await db.pool.query(`ALTER PUBLICATION ${pub} DROP TABLE teachers`);
    await db.pool.query(`ALTER PUBLICATION ${pub} ADD TABLE scratch`);
    await db.pool.query('ALTER TABLE exams REPLICA IDENTITY DEFAULT');
    await db.pool.query('SELECT pg_drop_replication_slot($1)', [rules.capture.slotName]);
    try {
      const status = await statusJson();
      const codes = status.warnings.map((w) => `${w.severity}:${w.code}`);
      expect(codes).toEqual(
        expect.arrayContaining([
          'critical:SLOT_MISSING',
          'critical:TABLE_NOT_PUBLISHED',
          'warning:TABLE_WITHOUT_TENANT_ID',
          'warning:REPLICA_IDENTITY_NOT_FULL',
        ]),
      );
      const text = (code: string) => status.warnings.find((w) => w.code === code)?.message;
      expect(text('TABLE_NOT_PUBLISHED')).toContain('teachers');
      expect(text('TABLE_WITHOUT_TENANT_ID')).toContain('public.scratch');
      expect(
        status.warnings.filter((w) => w.code === 'REPLICA_IDENTITY_NOT_FULL').map((w) => w.message),
      ).toEqual([expect.stringContaining('public.exams'), expect.stringContaining('public.scratch')]);
      expect(status.slot).toMatchObject({ exists: false, walStatus: null, retainedBytes: null });
      const table = await sync(['status']);
      expect(table.stdout).toMatch(/^slot \S+: MISSING$/m);
      expect(table.stdout).toMatch(/^ {2}CRITICAL SLOT_MISSING: /m);
    } finally {
      await db.pool.query(`ALTER PUBLICATION ${pub} ADD TABLE teachers`);
      await db.pool.query(`ALTER PUBLICATION ${pub} DROP TABLE scratch`);
      await db.pool.query('ALTER TABLE exams REPLICA IDENTITY FULL');
      await ensureSlot(db.pool, rules.capture.slotName);
    }
  });

  it('publication add sets REPLICA IDENTITY FULL and publishes the table; remove unpublishes it', async () => {
    expect(await replicaIdentity('notes')).toBe('d');
    const add = await sync(['publication', 'add', 'notes']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe('added notes to publication sync_pub (REPLICA IDENTITY FULL)\n');
    expect(add.stderr).toContain('capture ignores its changes');
    expect(await replicaIdentity('notes')).toBe('f');
    expect(await published('notes')).toBe(true);

    const again = await sync(['publication', 'add', 'public.notes', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({
      table: 'notes',
      publication: 'sync_pub',
      changed: false,
      replicaIdentity: 'full',
      entityType: null,
    });

    const remove = await sync(['publication', 'remove', 'notes']);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.stdout).toBe('removed notes from publication sync_pub\n');
    expect(await published('notes')).toBe(false);
  });

  it('publication add refuses a table without tenant_id, a missing table and a sync table, changing nothing', async () => {
    const cases: [string, RegExp][] = [
      ['scratch', /NO_TENANT_ID: .*scratch has no tenant_id column/],
      ['no_such_table', /TABLE_NOT_FOUND: table no_such_table does not exist/],
      ['sync_events', /SYNC_TABLE: .*sync_events is one of the sync engine's own tables/],
    ];
    for (const [table, message] of cases) {
      const run = await sync(['publication', 'add', table]);
      expect({ table, code: run.code, stdout: run.stdout }).toEqual({ table, code: 1, stdout: '' });
      expect(run.stderr).toMatch(message);
    }
    expect(await published('scratch')).toBe(false);
    expect(await replicaIdentity('scratch')).toBe('d');
  });

  it('publication remove of a synced entity table needs --yes off a terminal', async () => {
    const refused = await sync(['publication', 'remove', 'absences']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/absences is a synced entity table: .*Add --yes/);
    expect(await published('absences')).toBe(true);

    const removed = await sync(['publication', 'remove', 'absences', '--yes', '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({
      table: 'absences',
      changed: true,
      entityType: 'ABSENCE',
    });
    expect(await published('absences')).toBe(false);
    const back = await sync(['publication', 'add', 'absences']);
    expect(back.code, back.stderr).toBe(0);
    expect(await published('absences')).toBe(true);
  });

  it('slot recreate --yes recreates the slot and bumps every epoch, so an old cursor gets 410', async () => {
    const a = await createTenant(db.pool, 'Epoch A');
    const b = await createTenant(db.pool, 'Epoch B');
    const ids = await insertEvents(db.pool, { tenantId: a, count: 3 });
    const before = await tenantLog(a);
    const oldCursor = { epoch: before.epoch, eventId: ids.at(-1)! };
    expect(await resyncCode(a, oldCursor)).toBe('OK');
    const slotBefore = await slotRow();

    const refused = await sync(['slot', 'recreate']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/every desk downloads a full snapshot/);
    expect(refused.stderr).toMatch(/add --yes/);
    expect(await slotRow()).toEqual(slotBefore);

    const run = await sync(['slot', 'recreate', '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const done = JSON.parse(run.stdout) as { slotName: string; previous: string; tenants: number };
    expect(done).toMatchObject({ slotName: rules.capture.slotName, previous: 'ok' });
    const tenants = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants');
    expect(done.tenants).toBe(tenants.rows[0]!.n);

    const slotAfter = await slotRow();
    expect(slotAfter).toBeDefined();
    expect(slotAfter!.confirmed_flush_lsn).not.toBe(slotBefore!.confirmed_flush_lsn);
    const maxId = await db.pool.query<{ id: number }>('SELECT max(id) AS id FROM sync_events');
    for (const tenant of [a, b]) {
      expect(await tenantLog(tenant)).toEqual({ epoch: before.epoch + 1, floor_id: maxId.rows[0]!.id });
    }
    expect(await resyncCode(a, oldCursor)).toBe('RESYNC_REQUIRED');
    expect(await resyncCode(a, null)).toBe('RESYNC_REQUIRED');
    const capture = await db.pool.query<{ lsn: string }>(
      'SELECT last_commit_lsn::text AS lsn FROM sync_capture_state WHERE slot_name = $1',
      [rules.capture.slotName],
    );
    expect(capture.rows).toEqual([{ lsn: '0/0' }]);
  });

  it('prune --older-than deletes only older changes and raises each tenant floor to the highest pruned id', async () => {
    const a = await createTenant(db.pool, 'Prune A');
    const b = await createTenant(db.pool, 'Prune B');
    const old = new Date(Date.now() - 40 * DAY_MS);
    const oldA = await insertEvents(db.pool, { tenantId: a, count: 4, modifiedAt: old });
    const oldB = await insertEvents(db.pool, { tenantId: b, count: 2, modifiedAt: old });
    const newA = await insertEvents(db.pool, { tenantId: a, count: 3 });
    const epochA = (await tenantLog(a)).epoch;

    const run = await sync(['prune', '--older-than', '30d', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { events: { deleted: number; tenants: unknown[] } };
    expect(result.events.tenants).toEqual(
      expect.arrayContaining([
        { tenantId: a, deleted: 4, floorId: oldA.at(-1) },
        { tenantId: b, deleted: 2, floorId: oldB.at(-1) },
      ]),
    );
    const left = await db.pool.query<{ id: number }>(
      'SELECT id FROM sync_events WHERE tenant_id = ANY($1) ORDER BY id',
      [[a, b]],
    );
    expect(left.rows.map((r) => r.id)).toEqual(newA);
    expect((await tenantLog(a)).floor_id).toBe(oldA.at(-1));
    expect((await tenantLog(b)).floor_id).toBe(oldB.at(-1));
    expect(await resyncCode(a, { epoch: epochA, eventId: oldA.at(-2)! })).toBe('RESYNC_REQUIRED');
    expect(await resyncCode(a, { epoch: epochA, eventId: oldA.at(-1)! })).toBe('OK');

    const text = await sync(['prune', '--older-than', '30d']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^sync_events: deleted 0 changes committed before \d{4}-/m);
  });

  it('prune --older-than 0d deletes every change committed before now; a null cursor then gets 410', async () => {
    const tenant = await createTenant(db.pool, 'Prune all');
    const ids = await insertEvents(db.pool, { tenantId: tenant, count: 5 });
    const run = await sync(['prune', '--older-than', '0d']);
    expect(run.code, run.stderr).toBe(0);
    const left = await db.pool.query('SELECT 1 FROM sync_events');
    expect(left.rowCount).toBe(0);
    expect((await tenantLog(tenant)).floor_id).toBe(ids.at(-1));
    expect(await resyncCode(tenant, null)).toBe('RESYNC_REQUIRED');
    const epoch = (await tenantLog(tenant)).epoch;
    expect(await resyncCode(tenant, { epoch, eventId: ids.at(-1)! })).toBe('OK');
    expect(encodeCursor({ epoch, eventId: ids.at(-1)! })).toMatch(/^c1\./);

    const bad = await sync(['prune', '--older-than', '2w']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--older-than: invalid duration "2w"/);
    const missing = await sync(['prune']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--older-than is required/);
  });

  it('prune applies the sync-rules retention to sync_log and sync_audit; auditDays 0 keeps the audit trail', async () => {
    const tenant = await createTenant(db.pool, 'Retention');
    await db.pool.query(
      `INSERT INTO sync_log (tenant_id, client_id, direction, status, started_at, duration_ms)
       VALUES ($1, 'old', 'UP', 'SUCCESS', now() - interval '31 days', 1),
              ($1, 'new', 'UP', 'SUCCESS', now() - interval '29 days', 1)`,
      [tenant],
    );
    await db.pool.query(
      `INSERT INTO sync_audit (tenant_id, user_id, client_id, outbox_event_id, outcome, created_at)
       VALUES ($1, 'u', 'old', 'e1', 'ACKNOWLEDGED', now() - interval '366 days'),
              ($1, 'u', 'new', 'e2', 'ACKNOWLEDGED', now() - interval '364 days')`,
      [tenant],
    );
    const clients = async (table: string): Promise<string[]> => {
      const result = await db.pool.query<{ client_id: string }>(
        `SELECT client_id FROM ${table} WHERE tenant_id = $1 ORDER BY client_id`,
        [tenant],
      );
      return result.rows.map((r) => r.client_id);
    };

    const keepAudit = join(dir, 'keep-audit.json');
    writeFileSync(
      keepAudit,
      JSON.stringify({ capture: rules.capture, retention: { syncLogDays: 30, auditDays: 0 } }),
    );
    const kept = await sync(['prune', '--older-than', '90d'], { SYNC_CONFIG: keepAudit });
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(/^sync_audit: kept \(retention 0 days\)$/m);
    expect(await clients('sync_log')).toEqual(['new']);
    expect(await clients('sync_audit')).toEqual(['new', 'old']);

    const run = await sync(['prune', '--older-than', '90d', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ audit: { deleted: 1 } });
    expect(await clients('sync_audit')).toEqual(['new']);
  });

  it('help lists the operations commands', async () => {
    const help = await sync(['help']);
    expect(help.code).toBe(0);
    for (const line of [
      'status [--json]',
      'publication add TABLE [--json]',
      'publication remove TABLE [--yes] [--json]',
      'slot recreate [--yes] [--json]',
      'prune --older-than DURATION [--json]',
    ]) {
      expect(help.stdout).toContain(line);
    }
  });
});
