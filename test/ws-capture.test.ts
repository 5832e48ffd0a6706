import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../server/auth/tokens.ts';
import { captureRules, setUpCapture } from './support/capture-env.ts';
import { createTestDatabase, waitFor, type TestDatabase } from './support/db.ts';
import { toleratePoolEndRace } from './support/ws-server.ts';
import { createTenant, TEST_JWT_SECRET } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { NodeProcess } from './support/ws-node-process.ts';
import { tenantLog } from './support/ws-log.ts';

describe('plain-SQL writes reach desks on every node, through real capture', () => {
  let db: TestDatabase;
  const nodes: NodeProcess[] = [];
  const desks: TestDesk[] = [];

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    const rules = captureRules(db);
    await setUpCapture(db, rules);
    const rulesInput = { capture: { ...rules.capture } };
    const first = await new NodeProcess({
      databaseUrl: db.url,
      rules: rulesInput,
      capture: true,
      identity: 'node-1',
    }).ready();
    nodes.push(first);
    await waitFor(() => first.status?.leader === true, {
      timeoutMs: 20_000,
      message: 'node-1 leads capture',
    });
    nodes.push(
      await new NodeProcess({
        databaseUrl: db.url,
        rules: rulesInput,
        capture: true,
        identity: 'node-2',
      }).ready(),
    );
  });

  afterAll(async () => {
    for (const desk of desks) desk.cut();
    for (const node of nodes) await node.kill('SIGKILL');
    await db?.drop();
  });

  function open(node: NodeProcess, token: string, clientId: string, cursor: string | null = null): TestDesk {
    const desk = TestDesk.open(node.wsUrl, { token, clientId, cursor });
    desks.push(desk);
    return desk;
  }

  it('a plain-SQL write reaches desks on both nodes; after the capturing node is killed the standby takes over and pushing goes on', async () => {
    const [leader, standby] = nodes as [NodeProcess, NodeProcess];
    const tenant = await createTenant(db.pool);
    const token = await signToken(TEST_JWT_SECRET, { sub: 'u', tenantId: tenant, role: 'desk' }, 3600);
    const onLeader = [open(leader, token, 'l1'), open(leader, token, 'l2')];
    const onStandby = [open(standby, token, 's1'), open(standby, token, 's2')];
    await waitFor(() => leader.status?.desks.byState.live === 2 && standby.status?.desks.byState.live === 2);

    const student = randomUUID();
    const readsBefore = leader.status!.hub.reads;
    await db.pool.query(
      `INSERT INTO students (tenant_id, id, first_name, last_name, birth_date, notes)
       VALUES ($1, $2, 'Awa', 'Diallo', '2014-03-09', $3)`,
      [tenant, student, 'Dit "Awa\\"\tcalme ✓ 🎒'],
    );
    await db.pool.query(`UPDATE students SET last_name = 'Ndiaye' WHERE tenant_id = $1 AND id = $2`, [
      tenant,
      student,
    ]);
    await db.pool.query(
      `INSERT INTO payments (tenant_id, id, student_id, amount_cents, currency, paid_at, method)
       VALUES ($1, $2, $3, 9007199254740993, 'XOF', '2026-11-28 08:02:03.123456+01', 'CASH')`,
      [tenant, randomUUID(), student],
    );
    for (const desk of [...onLeader, ...onStandby]) {
      await desk.waitForChanges(3);
      expect(desk.changes.map((c) => [c.entityId, c.operation, c.payload.lastName])).toEqual([
        [student, 'CREATE', 'Diallo'],
        [student, 'UPDATE', 'Ndiaye'],
        [expect.any(String), 'CREATE', undefined],
      ]);
    }
    // The capturing node pushed what its capture handed over, without reading it back; the other node read
    // it from the log. Its desks got the very same changes, field for field.
    // (Past the wait after which a notification whose batch was not handed over is read, then one more
    // status line.)
    await new Promise((resolve) => setTimeout(resolve, 400));
    const stale = leader.status;
    await waitFor(() => leader.status !== stale, { message: 'a fresh status line of the leader node' });
    expect(leader.status!.hub.handedOver).toBeGreaterThan(0);
    expect(leader.status!.hub.reads).toBe(readsBefore);
    expect(standby.status!.hub.handedOver).toBe(0);
    expect(standby.status!.hub.reads).toBeGreaterThan(0);
    for (const desk of [...onLeader, onStandby[1]!]) expect(desk.changes).toEqual(onStandby[0]!.changes);
    expect(onLeader[0]!.changes[0]!.payload).toMatchObject({
      birthDate: '2014-03-09',
      notes: 'Dit "Awa\\"\tcalme ✓ 🎒',
    });

    await leader.kill('SIGKILL');
    await waitFor(() => standby.status?.leader === true, {
      timeoutMs: 20_000,
      message: 'standby takes over capture',
    });
    await db.pool.query(`DELETE FROM payments WHERE tenant_id = $1`, [tenant]);
    await db.pool.query(`DELETE FROM students WHERE tenant_id = $1 AND id = $2`, [tenant, student]);
    for (const desk of onStandby) await desk.waitForChanges(5);
    // The killed node's desks reconnect to the survivor with their cursors and catch up.
    const moved = onLeader.map((desk, i) => open(standby, token, `moved-${i}`, desk.cursor));
    for (const desk of moved) await desk.waitForChanges(1);
    const log = await tenantLog(db.pool, tenant);
    expect(log).toHaveLength(5);
    for (const desk of onStandby) expect(desk.ids).toEqual(log);
    for (const [i, desk] of moved.entries()) expect([...onLeader[i]!.ids, ...desk.ids]).toEqual(log);
    expect(onStandby[0]!.changes.at(-1)).toMatchObject({ entityId: student, operation: 'DELETE' });
  });
});
