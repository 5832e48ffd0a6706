import { PassThrough } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../server/admin/commands.ts';
import { createAdminContext } from '../server/admin/context.ts';
import { runCli } from '../server/admin/program.ts';
import { ensurePublication, ensureSlot } from '../server/capture/setup.ts';
import { parseSyncRules, type SyncRules } from '../server/config/rules.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { createTenant } from './support/http.ts';

describe('sync-admin confirmation on a terminal', () => {
  let db: TestDatabase;
  let dir: string;
  let rules: SyncRules;
  let environment: NodeJS.ProcessEnv;

  /** Runs a command in-process with `answer` typed at a (pretend) terminal. */
  async function answering(answer: string, argv: string[]) {
    const input = Object.assign(new PassThrough(), { isTTY: true });
    const out: string[] = [];
    const err: string[] = [];
    const ctx = createAdminContext({
      io: { out: (line) => out.push(line), err: (line) => err.push(line) },
      environment,
      input,
    });
    const done = runCli(argv, ctx, COMMANDS);
    input.end(`${answer}\n`);
    return { code: await done, out: out.join('\n'), err: err.join('\n') };
  }

  async function epoch(tenantId: string): Promise<number> {
    const result = await db.pool.query<{ epoch: number }>(
      'SELECT epoch FROM sync_tenant_log WHERE tenant_id = $1',
      [tenantId],
    );
    return result.rows[0]?.epoch ?? 0;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'sync-admin-confirm-'));
    const file = { capture: { slotName: `slot_${db.name}`, publicationName: 'sync_pub' } };
    writeFileSync(join(dir, 'rules.json'), JSON.stringify(file));
    rules = parseSyncRules(file);
    environment = { DATABASE_URL: db.url, SYNC_CONFIG: join(dir, 'rules.json') };
    await ensurePublication(db.pool, rules);
    await ensureSlot(db.pool, rules.capture.slotName);
  });

  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('slot recreate explains that every desk resyncs and acts only on "yes"', async () => {
    const tenant = await createTenant(db.pool, 'Asked school');
    const no = await answering('n', ['slot', 'recreate']);
    expect(no).toMatchObject({ code: 1, out: '' });
    expect(no.err).toMatch(/every desk downloads a full snapshot/);
    expect(no.err).toMatch(/nothing done/);
    expect(await epoch(tenant)).toBe(0);

    const yes = await answering('yes', ['slot', 'recreate']);
    expect(yes.code, yes.err).toBe(0);
    expect(yes.out).toMatch(
      /^recreated slot slot_t_\w+ \(it was ok\) at [0-9A-F]+\/[0-9A-F]+; 1 tenant starts/,
    );
    expect(await epoch(tenant)).toBe(1);
  });

  it('publication remove of a synced entity table asks on a terminal', async () => {
    const no = await answering('', ['publication', 'remove', 'grades']);
    expect(no).toMatchObject({ code: 1, out: '' });
    const yes = await answering('y', ['publication', 'remove', 'grades']);
    expect(yes).toMatchObject({ code: 0, out: 'removed grades from publication sync_pub' });
  });
});
