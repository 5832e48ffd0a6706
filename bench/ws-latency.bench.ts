/**
 * Push latency: 200 desks in 20 tenants, 500 changes/s for 60 s; commit → desk receipt p50/p99 beside the
 * raw floor measured in the same run: a bare pgoutput client receiving the same INSERTs from its own slot.
 * Target: p99 ≤ 3× that floor and ≤ 50 ms.
 *
 *   npx tsx bench/ws-latency.bench.ts [--desks 200] [--tenants 20] [--rate 500] [--seconds 60]
 */
import { numberArg } from './ws-support.ts';
import { runLoad } from './ws-load.ts';

await runLoad({
  desks: numberArg('--desks', 200),
  tenants: numberArg('--tenants', 20),
  rate: numberArg('--rate', 500),
  seconds: numberArg('--seconds', 60),
  floorRate: numberArg('--floor-rate', 20),
  targets: { p99Ms: 50, p99VsFloor: 3 },
});
