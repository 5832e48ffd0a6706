/**
 * Fan-out: 5 000 desks in 500 tenants, 1 000 changes/s; zero lost (each desk's received sequence equals its
 * tenant's log) and commit → receipt p99 ≤ 250 ms. The issue asks for 5 minutes: pass --seconds 300.
 *
 *   npx tsx bench/ws-fanout.bench.ts [--desks 5000] [--tenants 500] [--rate 1000] [--seconds 60]
 */
import { numberArg } from './ws-support.ts';
import { runLoad } from './ws-load.ts';

await runLoad({
  desks: numberArg('--desks', 5000),
  tenants: numberArg('--tenants', 500),
  rate: numberArg('--rate', 1000),
  seconds: numberArg('--seconds', 60),
  floorRate: numberArg('--floor-rate', 20),
  targets: { p99Ms: 250 },
});
