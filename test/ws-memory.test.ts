import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../server/auth/tokens.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { toleratePoolEndRace } from './support/ws-server.ts';
import { createTenant, TEST_JWT_SECRET } from './support/http.ts';
import { openNonReadingDesk, TestDesk } from './support/ws-desk.ts';
import { NodeProcess } from './support/ws-node-process.ts';
import { appendEvents } from './support/ws-log.ts';

const EVENTS = 100_000;
const BATCH = 2_000;
/** About 1 KB per change: some 100 MB flow, so that buffering them for the stuck desk would show. */
const PAD = 1_000;

describe('server memory with a desk that never reads', () => {
  let db: TestDatabase;
  let node: NodeProcess;
  let stuck: Socket | null = null;

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    node = await new NodeProcess({
      databaseUrl: db.url,
      // Neither pings nor the slow-desk limit may end the stuck desk during the test.
      rules: { intervals: { wsPingMs: 600_000 } },
      socket: { slowCloseMs: 600_000 },
      statusMs: 100,
    }).ready();
  });

  afterAll(async () => {
    stuck?.destroy();
    await node?.kill();
    await db?.drop();
  });

  it('while 100 000 events flow, a desk that never reads is paused and the server RSS stays bounded', async () => {
    const tenant = await createTenant(db.pool);
    const token = await signToken(TEST_JWT_SECRET, { sub: 'u', tenantId: tenant, role: 'desk' }, 3600);
    const reader = TestDesk.open(node.wsUrl, { token, clientId: 'reader', validate: false });
    stuck = await openNonReadingDesk(node.wsUrl, token, { type: 'hello', clientId: 'stuck', cursor: null });
    await waitFor(() => node.status?.desks.byState.live === 2, { message: 'both desks live' });
    // Warm up (JIT, pools, buffers) before taking the baseline.
    for (let i = 0; i < 5; i++)
      await appendEvents(db.pool, [{ tenantId: tenant, count: BATCH, padBytes: PAD }]);
    await reader.waitForChanges(5 * BATCH, 30_000);
    const baseline = node.status!.rssKb;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, node.status?.rssKb ?? 0);
    }, 50);
    try {
      for (let i = 0; i < EVENTS / BATCH; i++)
        await appendEvents(db.pool, [{ tenantId: tenant, count: BATCH, padBytes: PAD }]);
      await reader.waitForChanges(EVENTS + 5 * BATCH, 60_000);
    } finally {
      clearInterval(sampler);
    }
    const growthMb = (peak - baseline) / 1024;
    const flowedMb = reader.bytes / 1024 / 1024;
    console.log(
      `server RSS: baseline ${(baseline / 1024).toFixed(1)} MB, peak ${(peak / 1024).toFixed(1)} MB, ` +
        `growth ${growthMb.toFixed(1)} MB while ${flowedMb.toFixed(0)} MB flowed to the reading desk`,
    );
    expect(flowedMb).toBeGreaterThan(100);
    // Buffering for the stuck desk would grow with what flowed; pausing it keeps the growth far below.
    expect(growthMb).toBeLessThan(Math.min(150, flowedMb / 3));
    expect(node.status?.desks.byState.paused).toBe(1);
    reader.cut();
  });
});
