import { parseArgs } from 'node:util';
import { parseDuration } from '../auth/tokens.ts';
import { pruneEvents, pruneLogs } from '../ops/retention.ts';
import { parsing, required, UsageError, type Command } from './command.ts';
import { formatJson } from './output.ts';

export const prune: Command = {
  name: 'prune',
  synopsis: '--older-than DURATION [--json]',
  summary: 'delete changes older than DURATION (and sync_log/audit rows past their retention)',
  details: [
    '  --older-than DURATION   30d, 12h, 45m; 0d deletes every change committed before now',
    '  --json                  what was deleted, per tenant, as JSON',
    '',
    "Per tenant, the changes go together with a raise of the tenant's floor: a desk whose cursor is",
    'older than what is kept gets 410 RESYNC_REQUIRED and downloads a snapshot. Deletes in chunks of',
    '10 000 rows, so it can run while the server serves.',
    'sync_log and sync_audit are pruned by retention.syncLogDays and retention.auditDays of the sync-rules',
    'file (SYNC_CONFIG), record history (sync_history) by retention.historyDays, whatever --older-than',
    'says; 0 days keeps that table forever.',
  ].join('\n'),
  async run(args, ctx) {
    const { values } = parsing(() =>
      parseArgs({
        args,
        options: { 'older-than': { type: 'string' }, json: { type: 'boolean' } },
        strict: true,
      }),
    );
    const text = required(values['older-than'], '--older-than');
    let seconds: number;
    try {
      seconds = parseDuration(text);
    } catch (cause) {
      throw new UsageError(`--older-than: ${(cause as Error).message}`, { cause });
    }
    const rules = ctx.rules();
    const result = await ctx.withDatabase(async (pool) => ({
      events: await pruneEvents(pool, seconds * 1000, rules.retention),
      ...(await pruneLogs(pool, rules)),
    }));
    if (values.json === true) {
      ctx.io.out(formatJson(result));
      return;
    }
    const { events, syncLog, audit, uploadResults, history } = result;
    ctx.io.out(
      [
        `sync_events: deleted ${events.deleted} changes committed before ${events.cutoff} ` +
          `(${events.tenants.length} tenants: cursors below their new floor get 410); ` +
          `their ${events.archived} history entries kept in sync_history`,
        `sync_log: ${syncLog.cutoff === null ? 'kept (retention 0 days)' : `deleted ${syncLog.deleted} rows before ${syncLog.cutoff}`}`,
        `sync_audit: ${audit.cutoff === null ? 'kept (retention 0 days)' : `deleted ${audit.deleted} rows before ${audit.cutoff}`}`,
        `sync_upload_results: ${uploadResults.cutoff === null ? 'kept (retention 0 days)' : `deleted ${uploadResults.deleted} stored answers before ${uploadResults.cutoff}`}`,
        `sync_history: ${history.cutoff === null ? 'kept (retention 0 days)' : `deleted ${history.deleted} entries before ${history.cutoff}`}`,
      ].join('\n'),
    );
  },
};
