import { describe, expect, it } from 'vitest';
import type { EntityType } from '../shared/entities.ts';
import type { ChangeBatch } from '../server/fanout/batch.ts';
import type { Subscriber } from '../server/fanout/subscriber.ts';
import type { TenantTailRead } from '../server/fanout/tail-read.ts';
import { TenantChannel } from '../server/fanout/tenant-channel.ts';

const TENANT = '11111111-1111-4111-8111-111111111111';

/** A subscriber that records what it is sent, as a desk socket would send it. */
class FakeDesk implements Subscriber {
  readonly tenantId = TENANT;
  readonly filterKey: string;
  readonly sent: Buffer[] = [];
  demoted = 0;
  resynced = 0;
  full = false;

  constructor(
    readonly position: { epoch: number; eventId: number },
    readonly entityTypes: readonly EntityType[] | null = null,
  ) {
    this.filterKey = entityTypes === null ? '*' : entityTypes.join(',');
  }

  offer(batch: ChangeBatch): boolean {
    if (this.full) return false;
    this.sent.push(batch.messageFor(this.position.eventId, this.filterKey, this.entityTypes));
    this.position.eventId = batch.toId;
    return true;
  }
  demote(): void {
    this.demoted++;
  }
  resync(): void {
    this.resynced++;
  }
  ids(i: number): string[] {
    return (JSON.parse(this.sent[i]!.toString()) as { changes: { id: string }[] }).changes.map((c) => c.id);
  }
}

function read(
  afterId: number | null,
  ids: number[],
  types: string[] = [],
  state = { epoch: 0, floorId: 0, tailId: 0 },
): TenantTailRead {
  return {
    tenantId: TENANT,
    after: afterId === null ? null : { epoch: 0, eventId: afterId },
    state: { ...state, lastIssuedId: 1_000_000 },
    visibleEnd: Math.max(afterId ?? 0, state.tailId, ...ids),
    changes: ids.map((id, i) => ({
      id,
      entityType: types[i] ?? 'STUDENT',
      json: JSON.stringify({ id: String(id), entityType: types[i] ?? 'STUDENT' }),
      modifiedAt: new Date().toISOString(),
    })),
    hasMore: false,
  };
}

/** A channel whose first read found the tenant's last change at `tailId`, with `desks` joined. */
function channelWith(tailId: number, ...desks: FakeDesk[]): TenantChannel {
  const channel = new TenantChannel(TENANT);
  for (const desk of desks) {
    channel.add(desk);
    expect(channel.join(desk)).toEqual({ outcome: 'parked', needsRead: true });
  }
  expect(channel.apply(read(null, [], [], { epoch: 0, floorId: 0, tailId }))).toBe(true);
  return channel;
}

describe('fan-out of one tenant on one node', () => {
  it('every live desk of a filter gets the very same bytes, built once per distinct filter', () => {
    const plain = [1, 2, 3].map(() => new FakeDesk({ epoch: 0, eventId: 10 }));
    const teachers = [1, 2].map(() => new FakeDesk({ epoch: 0, eventId: 10 }, ['TEACHER']));
    const channel = channelWith(10, ...plain, ...teachers);
    expect(channel.live.size).toBe(5);
    expect(channel.apply(read(10, [11, 12, 13], ['STUDENT', 'TEACHER', 'STUDENT']))).toBe(true);
    const [first, ...others] = plain.map((d) => d.sent[0]);
    for (const other of others) expect(other).toBe(first);
    expect(teachers[1]!.sent[0]).toBe(teachers[0]!.sent[0]);
    expect(teachers[0]!.sent[0]).not.toBe(first);
    expect(plain[0]!.ids(0)).toEqual(['11', '12', '13']);
    expect(teachers[0]!.ids(0)).toEqual(['12']);
    // Every desk, filtered or not, is moved to the batch's end with the same cursor.
    for (const desk of [...plain, ...teachers]) expect(desk.position.eventId).toBe(13);
    expect(JSON.parse(teachers[0]!.sent[0]!.toString()).cursor).toBe(JSON.parse(first!.toString()).cursor);
  });

  it('a desk that joined ahead of the hub gets only the part of the next batch past its position', () => {
    const live = new FakeDesk({ epoch: 0, eventId: 10 });
    const channel = channelWith(10, live);
    const ahead = new FakeDesk({ epoch: 0, eventId: 12 });
    channel.add(ahead);
    expect(channel.join(ahead)).toEqual({ outcome: 'parked', needsRead: true });
    channel.apply(read(10, [11, 12, 13, 14]));
    expect(live.ids(0)).toEqual(['11', '12', '13', '14']);
    expect(ahead.ids(0)).toEqual(['13', '14']);
    expect(channel.live.has(ahead)).toBe(true);
    // A desk behind the hub's tail reads on by itself.
    const behind = new FakeDesk({ epoch: 0, eventId: 11 });
    channel.add(behind);
    expect(channel.join(behind).outcome).toBe('behind');
  });

  it('the tail comes from the hub’s own first read, never from a desk’s cursor', () => {
    // One desk claims a position past the tenant's last change (a cursor of another tenant); one is behind.
    const far = new FakeDesk({ epoch: 0, eventId: 500 });
    const behind = new FakeDesk({ epoch: 0, eventId: 40 });
    const exact = new FakeDesk({ epoch: 0, eventId: 50 });
    const channel = channelWith(50, far, behind, exact);
    expect(channel.tail).toEqual({ epoch: 0, eventId: 50 });
    expect([channel.parked.has(far), channel.catchingUp.has(behind), channel.live.has(exact)]).toEqual([
      true,
      true,
      true,
    ]);
    expect(behind.demoted).toBe(1);
    // A change past `far`'s position reaches both, `far` getting only what lies past its position.
    channel.apply(read(50, [60, 510]));
    expect(exact.ids(0)).toEqual(['60', '510']);
    expect(far.ids(0)).toEqual(['510']);
  });

  it('a desk whose socket is full is dropped from the live set, the others still get the batch', () => {
    const full = new FakeDesk({ epoch: 0, eventId: 5 });
    const ok = new FakeDesk({ epoch: 0, eventId: 5 });
    const channel = channelWith(5, full, ok);
    full.full = true;
    channel.apply(read(5, [6]));
    expect(channel.live.has(full)).toBe(false);
    expect(ok.ids(0)).toEqual(['6']);
    expect(channel.tail).toEqual({ epoch: 0, eventId: 6 });
  });

  it('knows how far it has the tenant’s log: a read’s snapshot, a read cut short, a batch handed over', () => {
    const desk = new FakeDesk({ epoch: 0, eventId: 20 });
    const channel = channelWith(20, desk);
    expect(channel.coveredTo).toBe(20);
    // Other tenants' changes up to 90 were visible to the read: nothing of this tenant up to there is new.
    channel.apply({ ...read(20, [25]), visibleEnd: 90 });
    expect([channel.tail?.eventId, channel.coveredTo]).toEqual([25, 90]);
    // A read cut short by its limit knows the log only up to its last change.
    channel.apply({ ...read(25, [95, 96]), visibleEnd: 120, hasMore: true });
    expect(channel.coveredTo).toBe(96);
    channel.extend(read(96, [130, 131]).changes, 140);
    expect(desk.ids(2)).toEqual(['130', '131']);
    expect([channel.tail?.eventId, channel.coveredTo, desk.position.eventId]).toEqual([131, 140, 131]);
    channel.drop(desk);
    expect([channel.tail, channel.coveredTo]).toEqual([null, -1]);
  });

  it('a read from a tail that moved meanwhile is refused; a tail the log no longer serves resyncs its desks', () => {
    const desk = new FakeDesk({ epoch: 0, eventId: 20 });
    const channel = channelWith(20, desk);
    expect(channel.apply(read(19, [21]))).toBe(false);
    expect(desk.sent).toHaveLength(0);
    expect(channel.apply(read(20, [], [], { epoch: 1, floorId: 30, tailId: 0 }))).toBe(true);
    expect(desk.resynced).toBe(1);
    expect(channel.tail).toBeNull();
  });
});
