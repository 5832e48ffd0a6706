/**
 * Commit → desk at a school's pace (issue 14): one commit every 100 ms, first to 1 desk, then to 50 desks in
 * 50 tenants; each a fresh database and server node, each beside the raw floor of the same run (a bare
 * pgoutput client of its own slot, INSERT sent → decoded). Target: p50 ≤ 2 ms, p99 ≤ 5 ms in both.
 *
 *   npx tsx bench/ws-commit.bench.ts [--rate 10] [--seconds 30]
 */
import { numberArg } from './ws-support.ts';
import { runLoad } from './ws-load.ts';

const TARGETS = { p50Ms: 2, p99Ms: 5 };

for (const { desks, tenants } of [
  { desks: 1, tenants: 1 },
  { desks: 50, tenants: 50 },
]) {
  await runLoad({
    desks,
    tenants,
    rate: numberArg('--rate', 10),
    seconds: numberArg('--seconds', 30),
    floorRate: numberArg('--floor-rate', 10),
    targets: TARGETS,
  });
  console.log('');
}
