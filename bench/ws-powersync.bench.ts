/**
 * The bar from the brief: the PowerSync service, on a machine like this one (2 cores, Postgres on the same
 * host), delivers a commit to 50 subscribed clients at p50 36 ms / p99 118 ms. Five times better is
 * p50 ≤ 7.2 ms and p99 ≤ 23.6 ms. Here: 50 desks of one school, plain-SQL INSERTs committed one by one
 * (each through WAL, capture, sync_events, NOTIFY, the hub and the socket), commit → receipt at every desk,
 * beside a bare LISTEN/NOTIFY round trip measured in the same run.
 *
 *   npx tsx bench/ws-powersync.bench.ts [--desks 50] [--rate 20] [--seconds 30]
 */
import { numberArg } from './ws-support.ts';
import { runLoad } from './ws-load.ts';

const POWERSYNC = { p50Ms: 36, p99Ms: 118 };
const BETTER_BY = 5;

await runLoad({
  desks: numberArg('--desks', 50),
  tenants: 1,
  rate: numberArg('--rate', 20),
  seconds: numberArg('--seconds', 30),
  floorRate: numberArg('--floor-rate', 20),
  targets: { p50Ms: POWERSYNC.p50Ms / BETTER_BY, p99Ms: POWERSYNC.p99Ms / BETTER_BY },
});
