import type { Socket } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSyncRules, parseSyncRules } from '../server/config/rules.ts';
import { deskSocketOptions } from '../server/socket/options.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { appendEvents } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace } from './support/ws-server.ts';
import { problemsOf } from './support/rules.ts';

describe('sync rules: push', () => {
  it('defaults are the values push used before it was configurable', () => {
    // Before the push section these were constants of socket/options.ts and fanout/tenant-hub.ts.
    const before = {
      pauseAboveBytes: 1024 * 1024,
      resumeBelowBytes: 64 * 1024,
      slowDeskCloseMs: 30_000,
      closeGraceMs: 2_000,
      hubReadLimit: 1000,
    };
    expect(parseSyncRules({}).push).toEqual(before);
    expect(loadSyncRules(undefined).push).toEqual(before);
    expect(deskSocketOptions(parseSyncRules({}))).toEqual({
      pageLimit: 1000,
      pauseAboveBytes: 1024 * 1024,
      resumeBelowBytes: 64 * 1024,
      drainCheckMs: 100,
      slowCloseMs: 30_000,
      closeGraceMs: 2_000,
      maxMessageBytes: 64 * 1024,
    });
  });

  it('deskSocketOptions takes the rules, and options given over them still win', () => {
    const rules = parseSyncRules({
      push: { pauseAboveBytes: 32_768, resumeBelowBytes: 0, slowDeskCloseMs: 900, closeGraceMs: 100 },
    });
    expect(deskSocketOptions(rules)).toMatchObject({
      pauseAboveBytes: 32_768,
      resumeBelowBytes: 0,
      slowCloseMs: 900,
      closeGraceMs: 100,
    });
    expect(deskSocketOptions(rules, { slowCloseMs: 500 })).toMatchObject({
      pauseAboveBytes: 32_768,
      slowCloseMs: 500,
    });
  });

  it('a bad push section is refused naming every bad key', () => {
    const problems = problemsOf({
      push: {
        pauseAboveBytes: -1,
        resumeBelowBytes: 'small',
        slowDeskCloseMs: 0,
        closeGraceMs: 1.5,
        hubReadLimit: 1e9,
        colour: 'red',
      },
    });
    for (const key of [
      'push.pauseAboveBytes',
      'push.resumeBelowBytes',
      'push.slowDeskCloseMs',
      'push.closeGraceMs',
      'push.hubReadLimit',
      'push',
    ]) {
      expect(problems.some((p) => p.startsWith(`${key}:`))).toBe(true);
    }
    expect(problems.join('\n')).toContain('colour');
  });

  it('resumeBelowBytes at or above pauseAboveBytes is refused, naming it', () => {
    for (const push of [
      { pauseAboveBytes: 65_536, resumeBelowBytes: 65_536 },
      { resumeBelowBytes: 2 * 1024 * 1024 },
    ]) {
      expect(problemsOf({ push })).toEqual(['push.resumeBelowBytes: must be below push.pauseAboveBytes']);
    }
    expect(problemsOf({ push: { pauseAboveBytes: 65_537 } })).toEqual([]);
  });
});

describe('sync rules: push, on a running server', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('push.slowDeskCloseMs: a desk that stops reading is closed as too slow after the configured time', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const server = await startPushServer(db, {
      log,
      rules: {
        push: { pauseAboveBytes: 16 * 1024, resumeBelowBytes: 1024, slowDeskCloseMs: 500, closeGraceMs: 200 },
      },
    });
    try {
      const tenant = await createTenant(db.pool);
      const desk = TestDesk.open(server.wsUrl, { token: await server.token(tenant), validate: false });
      await desk.opened;
      await waitFor(() => server.app.deskSockets?.stats.byState.live === 1);
      const raw = (desk.ws as unknown as { _socket: Socket })._socket;
      raw.pause();
      const started = Date.now();
      for (let i = 0; i < 20; i++) await appendEvents(db.pool, [{ tenantId: tenant, count: 1000 }]);
      // The default (30 s) would keep it far past this deadline.
      await waitFor(() => server.app.deskSockets?.stats.connections === 0, {
        timeoutMs: 15_000,
        message: 'slow desk closed',
      });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(lines.some((line) => line.includes('sync socket too slow; closing it'))).toBe(true);
      raw.resume();
      await desk.closed;
    } finally {
      await server.close();
    }
  });

  it('push.hubReadLimit: live changes are read, and so pushed, at most that many per tenant at a time', async () => {
    const server = await startPushServer(db, { rules: { push: { hubReadLimit: 10 } } });
    try {
      const tenant = await createTenant(db.pool);
      const desk = TestDesk.open(server.wsUrl, { token: await server.token(tenant) });
      await desk.opened;
      // The hub feeds the desk (its first read of the tenant is done): what follows comes from its reads.
      await waitFor(() => {
        const hub = server.hub.stats;
        return hub.live === 1 && hub.readsInFlight === 0 && hub.tenantsPending === 0;
      });
      await appendEvents(db.pool, [{ tenantId: tenant, count: 95 }]);
      await desk.waitForChanges(95);
      const sizes = desk.messages.filter((m) => m.type === 'changes').map((m) => m.changes.length);
      expect(sizes.length).toBeGreaterThanOrEqual(10);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
      desk.cut();
    } finally {
      await server.close();
    }
  });
});
