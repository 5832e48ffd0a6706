import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePublication, ensureSlot } from '../server/capture/setup.ts';
import { ENTITY_TABLES, ENTITY_TYPES } from '../shared/entities.ts';
import type { SyncRules } from '../server/config/rules.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { captureRules } from './support/capture-env.ts';

describe('capture setup', () => {
  let db: TestDatabase;
  let rules: SyncRules;

  beforeAll(async () => {
    db = await createTestDatabase();
    rules = captureRules(db);
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function publishedTables(): Promise<string[]> {
    const result = await db.pool.query<{ tablename: string }>(
      'SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY tablename',
      [rules.capture.publicationName],
    );
    return result.rows.map((r) => r.tablename);
  }

  it('publication and slot are created once when two servers start at the same moment', async () => {
    const starts = await Promise.all(
      [1, 2].map(async () => {
        const publication = await ensurePublication(db.pool, rules);
        const slot = await ensureSlot(db.pool, rules.capture.slotName);
        return { publication: publication.created, slot: slot.created };
      }),
    );
    expect(starts.filter((s) => s.publication)).toHaveLength(1);
    expect(starts.filter((s) => s.slot)).toHaveLength(1);
    expect(await publishedTables()).toEqual(ENTITY_TYPES.map((t) => ENTITY_TABLES[t]).sort());
    const slots = await db.pool.query<{ plugin: string }>(
      'SELECT plugin FROM pg_replication_slots WHERE slot_name = $1',
      [rules.capture.slotName],
    );
    expect(slots.rows).toEqual([{ plugin: 'pgoutput' }]);
    const state = await db.pool.query('SELECT 1 FROM sync_capture_state WHERE slot_name = $1', [
      rules.capture.slotName,
    ]);
    expect(state.rowCount).toBe(1);
  });

  it('a restart adds entity tables missing from the publication and never publishes sync_events', async () => {
    await db.pool.query(`ALTER PUBLICATION ${rules.capture.publicationName} DROP TABLE grades, payments`);
    await db.pool.query(`ALTER PUBLICATION ${rules.capture.publicationName} ADD TABLE sync_events`);
    const again = await ensurePublication(db.pool, rules);
    expect(again).toEqual({ created: false, added: ['grades', 'payments'] });
    const tables = await publishedTables();
    expect(tables).toContain('grades');
    expect(tables).not.toContain('sync_events');
    expect(await ensurePublication(db.pool, rules)).toEqual({ created: false, added: [] });
  });
});
