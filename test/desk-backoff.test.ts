import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTITY_TYPES } from '../shared/entities.ts';
import { Backoff, parseRetryAfter, RETRY_AFTER_CEILING_MS } from '../shared/timing.ts';
import { waitFor, type TestDatabase } from './support/db.ts';
import { FAST_SYNC, TestDeskClient, type deskDir } from './support/desk-client.ts';
import { startDeskServer, stopDeskServer, type DeskTestServer } from './support/desk-server.ts';
import { startProxy, type ProxiedRequest } from './support/http-proxy.ts';

/** The ceiling of the n-th wait (n from 0): min(max, base · 2^n). */
const ceilingOf = (n: number, baseMs: number, maxMs: number): number => Math.min(maxMs, baseMs * 2 ** n);

describe('Backoff', () => {
  it('grows exponentially with full jitter: the n-th wait is uniform in [0, min(max, base·2^n)) and reaches the cap', () => {
    const baseMs = 10;
    const maxMs = 1_000;
    const rounds = 12;
    const samples = 2_000;
    const waits: number[][] = Array.from({ length: rounds }, () => []);
    for (let s = 0; s < samples; s++) {
      const backoff = new Backoff({ baseMs, maxMs });
      for (let n = 0; n < rounds; n++) waits[n]!.push(backoff.next());
    }
    for (let n = 0; n < rounds; n++) {
      const ceiling = ceilingOf(n, baseMs, maxMs);
      const seen = waits[n]!;
      expect(Math.min(...seen)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...seen)).toBeLessThan(ceiling);
      // Full jitter: the whole range is used, not just its top or a fixed value.
      expect(Math.max(...seen)).toBeGreaterThanOrEqual(Math.floor(ceiling * 0.95));
      expect(Math.min(...seen)).toBeLessThanOrEqual(Math.ceil(ceiling * 0.05));
      const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
      expect(mean).toBeGreaterThan(ceiling * 0.4);
      expect(mean).toBeLessThan(ceiling * 0.6);
    }
    // base·2^7 = 1 280 > max: from the 8th wait on the cap holds.
    expect(ceilingOf(7, baseMs, maxMs)).toBe(maxMs);
    expect(Math.max(...waits[rounds - 1]!)).toBeGreaterThanOrEqual(950);
  });

  it('with the randomness pinned, each ceiling doubles up to max and stays there, even after many failures', () => {
    const backoff = new Backoff({ baseMs: 100, maxMs: 3_000, random: () => 0.5 });
    const waits = Array.from({ length: 8 }, () => backoff.next());
    expect(waits).toEqual([50, 100, 200, 400, 800, 1_500, 1_500, 1_500]);
    for (let i = 0; i < 200; i++) backoff.next();
    expect(backoff.attempts).toBe(208);
    expect(backoff.next()).toBe(1_500);
  });

  it('reset() starts over from base', () => {
    const backoff = new Backoff({ baseMs: 100, maxMs: 10_000, random: () => 0.5 });
    for (let i = 0; i < 6; i++) backoff.next();
    expect(backoff.next()).toBe(3_200);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([50, 100, 200]);
  });

  it("a server's Retry-After is a floor that wins over maxMs, capped only by the absolute ceiling", () => {
    const backoff = new Backoff({ baseMs: 50, maxMs: 200, random: () => 0.5 });
    expect(backoff.next(5_000)).toBe(5_000);
    expect(backoff.next(120_000)).toBe(120_000);
    // Shorter than the jittered wait: the jittered wait stands.
    for (let i = 0; i < 5; i++) backoff.next();
    expect(backoff.next(10)).toBe(100);
    expect(backoff.next(0)).toBe(100);
    // A broken header cannot park the desk for days.
    expect(backoff.next(7 * 86_400_000)).toBe(RETRY_AFTER_CEILING_MS);
    expect(RETRY_AFTER_CEILING_MS).toBe(3_600_000);
    expect(backoff.next(null)).toBe(100);
  });

  it('parseRetryAfter reads delta-seconds and every HTTP-date form, and refuses anything else', () => {
    const now = Date.parse('2026-03-02T10:00:00.000Z');
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('2', now)).toBe(2_000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('Mon, 02 Mar 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Monday, 02-Mar-26 10:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Mon Mar  2 10:00:05 2026', now)).toBe(5_000);
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90_000);
    // A date already past: retry at once.
    expect(parseRetryAfter('Sun, 01 Mar 2026 10:00:00 GMT', now)).toBe(0);
    for (const garbage of [null, '', '   ', 'soon', '-5', '1.5', '1e3', '0x10', 'Infinity', 'x 1', '12abc']) {
      expect(parseRetryAfter(garbage, now), JSON.stringify(garbage)).toBeNull();
    }
  });
});

describe('Retry-After through the desk, against the real server', () => {
  let db: TestDatabase;
  let server: DeskTestServer;
  let tenant: string;
  let token: string;
  let dir: ReturnType<typeof deskDir>;
  const cleanups: (() => Promise<void>)[] = [];
  /** Backoff cap far below the Retry-After the proxy sends: without honouring it the desk retries at once. */
  const options = { ...FAST_SYNC, socket: false, backoff: { baseMs: 20, maxMs: 200 } };
  const RETRY_AFTER_MS = 2_000;

  beforeAll(async () => {
    ({ db, server, tenant, dir } = await startDeskServer());
    token = await server.token(tenant);
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await stopDeskServer({ db, server, dir });
  });

  const deskBehind = async (name: string, busy: string) => {
    // The first request to `busy` is answered 503 with a Retry-After; everything else reaches the server.
    const busyOnce = new Set([busy]);
    const proxy = await startProxy(server.url, ({ path }) =>
      busyOnce.delete(path)
        ? {
            status: 503,
            headers: { 'content-type': 'application/json', 'retry-after': String(RETRY_AFTER_MS / 1000) },
            body: JSON.stringify({ code: 'NOT_READY', message: 'busy' }),
          }
        : null,
    );
    const desk = new TestDeskClient(dir.path(name), tenant, proxy, token, options);
    cleanups.push(
      () => proxy.close(),
      () => desk.close(),
    );
    return { proxy, desk };
  };
  const gapBetweenFirstTwo = (seen: ProxiedRequest[], path: string): number => {
    const [first, second] = seen.filter((s) => s.path === path);
    return second!.at - first!.at;
  };

  it('an upload answered 503 with Retry-After longer than the backoff cap is retried no sooner than asked, then lands', async () => {
    const { proxy, desk } = await deskBehind('up.db', '/api/sync/up');
    const id = desk.store.create('STUDENT', { firstName: 'Patient', lastName: 'Upload' }).entity.id;
    desk.start();
    await waitFor(() => desk.store.outboxCounts().ACKNOWLEDGED === 1, {
      timeoutMs: 15_000,
      message: 'upload acknowledged after the retry',
    });
    const ups = proxy.seen.filter((s) => s.path === '/api/sync/up');
    expect(ups).toHaveLength(2);
    expect(gapBetweenFirstTwo(proxy.seen, '/api/sync/up')).toBeGreaterThanOrEqual(RETRY_AFTER_MS);
    expect(desk.statuses.some((s) => s.lastError?.code === 'NOT_READY')).toBe(true);
    const row = await db.pool.query('SELECT first_name FROM students WHERE tenant_id = $1 AND id = $2', [
      tenant,
      id,
    ]);
    expect(row.rows[0]).toEqual({ first_name: 'Patient' });
  });

  it('a catch-up answered 503 with Retry-After longer than the backoff cap is retried no sooner than asked', async () => {
    const { proxy, desk } = await deskBehind('down.db', '/api/sync/down');
    desk.start();
    await waitFor(() => proxy.seen.filter((s) => s.path === '/api/sync/down').length >= 2, {
      timeoutMs: 15_000,
      message: 'catch-up retried',
    });
    expect(gapBetweenFirstTwo(proxy.seen, '/api/sync/down')).toBeGreaterThanOrEqual(RETRY_AFTER_MS);
    await waitFor(() => desk.status?.lastError === null && desk.status.checksum?.matched, {
      message: 'desk caught up and checked',
    });
    expect(desk.store.checksums()).toEqual(await server.checksums(tenant, ENTITY_TYPES));
  });
});
