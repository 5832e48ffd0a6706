import { parseArgs } from 'node:util';
import { recreateSlot } from '../ops/slot.ts';
import { AdminError, parsing, UsageError, type Command } from './command.ts';
import { formatJson } from './output.ts';

const CONSEQUENCES = (slot: string): string =>
  [
    `This drops replication slot ${slot} and creates a new one.`,
    'A capture streaming from it is disconnected and resumes on the new slot. Changes committed in between',
    "are not in the change log, so every tenant starts a new log epoch: every desk's cursor gets",
    '410 RESYNC_REQUIRED and every desk downloads a full snapshot.',
  ].join('\n');

export const slotRecreate: Command = {
  name: 'slot recreate',
  synopsis: '[--yes] [--json]',
  summary: 'drop and recreate the replication slot; every desk resyncs',
  details: [
    '  --yes    do not ask (needed when stdin is not a terminal)',
    '  --json   what was done as { slotName, previous, tenants, consistentLsn }',
    '',
    CONSEQUENCES('SLOT'),
    'The server does the same on its own when the slot is lost or dropped; use this to start afresh.',
  ].join('\n'),
  async run(args, ctx) {
    const { values } = parsing(() =>
      parseArgs({ args, options: { yes: { type: 'boolean' }, json: { type: 'boolean' } }, strict: true }),
    );
    const slotName = ctx.rules().capture.slotName;
    if (values.yes !== true) {
      if (!ctx.canAsk()) {
        throw new UsageError(`${CONSEQUENCES(slotName)}\nNot a terminal: add --yes to go ahead`);
      }
      ctx.io.err(CONSEQUENCES(slotName));
      if (!(await ctx.confirm(`Recreate slot ${slotName}?`))) throw new AdminError('nothing done');
    }
    const done = await ctx.withDatabase((pool) =>
      recreateSlot(pool, ctx.log, slotName, 'replication slot recreated by sync-admin'),
    );
    ctx.io.out(
      values.json === true
        ? formatJson(done)
        : `recreated slot ${done.slotName} (it was ${done.previous}) at ${done.consistentLsn}; ` +
            `${done.tenants} ${done.tenants === 1 ? 'tenant starts' : 'tenants start'} a new log epoch: ` +
            'every desk resyncs from a snapshot',
    );
  },
};
