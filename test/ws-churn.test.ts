import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { createTenant } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { appendEvents, tenantLog } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

const TOTAL = 20_000;

/** A desk whose connection is cut at random moments; it reconnects with the cursor it last persisted. */
class ChurningDesk {
  readonly ids: string[] = [];
  cursor: string | null = null;
  sessions = 0;
  #current: TestDesk | null = null;

  constructor(
    private readonly wsUrl: string,
    private readonly token: string,
    private readonly entityTypes?: string[],
  ) {}

  async churn(until: () => boolean): Promise<void> {
    while (!until()) {
      const desk = this.#connect();
      await Promise.race([desk.closed, new Promise((r) => setTimeout(r, 5 + Math.random() * 300))]);
      this.#settle(desk);
    }
  }

  /** A last connection that stays until the desk holds `expected` changes. */
  async finish(expected: number): Promise<void> {
    const desk = this.#connect();
    try {
      await desk.waitForChanges(expected - this.ids.length, 30_000);
    } finally {
      this.#settle(desk);
    }
  }

  #connect(): TestDesk {
    this.sessions++;
    this.#current = TestDesk.open(this.wsUrl, {
      token: this.token,
      cursor: this.cursor,
      validate: false,
      ...(this.entityTypes === undefined ? {} : { entityTypes: this.entityTypes }),
    });
    return this.#current;
  }

  #settle(desk: TestDesk): void {
    desk.cut();
    if (desk.closeCode !== null && desk.closeCode !== 1006) {
      throw new Error(`desk closed ${desk.closeCode} ${desk.closeReason}`);
    }
    this.ids.push(...desk.ids);
    this.cursor = desk.cursor;
  }
}

describe('/api/sync/ws under churn', () => {
  let db: TestDatabase;
  let server: PushServer;

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    server = await startPushServer(db, { socket: { pageLimit: 300 } });
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  it('while 20 000 changes are written and sockets are cut at random, every desk ends with exactly its tenant’s log, in order, no gap, no duplicate', async () => {
    const tenants = [await createTenant(db.pool), await createTenant(db.pool), await createTenant(db.pool)];
    const desks: { desk: ChurningDesk; tenant: string; types?: string[] }[] = [];
    for (const tenant of tenants) {
      const token = await server.token(tenant);
      desks.push({ desk: new ChurningDesk(server.wsUrl, token), tenant });
      desks.push({ desk: new ChurningDesk(server.wsUrl, token), tenant });
    }
    const teacherToken = await server.token(tenants[0]!);
    desks.push({
      desk: new ChurningDesk(server.wsUrl, teacherToken, ['TEACHER']),
      tenant: tenants[0]!,
      types: ['TEACHER'],
    });

    let written = 0;
    const writer = (async () => {
      while (written < TOTAL) {
        const batch = [];
        for (const tenantId of tenants) {
          if (Math.random() < 0.5 || written >= TOTAL) continue;
          const count = Math.min(TOTAL - written, 1 + Math.floor(Math.random() * 15));
          written += count;
          batch.push({ tenantId, count, entityType: Math.random() < 0.3 ? 'TEACHER' : 'STUDENT' });
        }
        if (batch.length > 0) await appendEvents(db.pool, batch);
      }
    })();
    const churning = desks.map(({ desk }) => desk.churn(() => written >= TOTAL));
    await writer;
    await Promise.all(churning);

    for (const { desk, tenant, types } of desks) {
      const log = await tenantLog(db.pool, tenant, types);
      await desk.finish(log.length);
      expect(desk.sessions).toBeGreaterThan(3);
      expect(desk.ids.length).toBe(log.length);
      expect(desk.ids).toEqual(log);
    }
    const total = (await Promise.all(tenants.map((t) => tenantLog(db.pool, t)))).flat().length;
    expect(total).toBe(TOTAL);
  });
});
