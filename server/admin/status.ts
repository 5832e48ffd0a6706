import { sleep } from '../../shared/timing.ts';
import { parseArgs } from 'node:util';
import { PROGRESS_RATE, RateMeter } from '../capture/rate.ts';
import {
  readEventsStored,
  readReplicationStatus,
  statusOptionsFromRules,
} from '../ops/replication-status.ts';
import type { ReplicationStatus } from '../ops/status-schema.ts';
import { formatBytes } from '../ops/thresholds.ts';
import { parsing, type Command } from './command.ts';
import { formatJson, formatTable, type Column } from './output.ts';

type Table = ReplicationStatus['publication']['tables'][number];
type Tenant = ReplicationStatus['log']['tenants'][number];

const TABLE_COLUMNS: Column<Table>[] = [
  { header: 'TABLE', value: (t) => `${t.schema}.${t.name}` },
  { header: 'REPLICA IDENTITY', value: (t) => t.replicaIdentity.toUpperCase() },
  { header: 'TENANT_ID', value: (t) => (t.hasTenantId ? 'yes' : 'NO') },
  { header: 'SYNCS AS', value: (t) => t.entityType ?? '-' },
];

const TENANT_COLUMNS: Column<Tenant>[] = [
  { header: 'TENANT', value: (t) => t.tenantId },
  { header: 'NAME', value: (t) => t.name },
  { header: 'EPOCH', value: (t) => String(t.epoch) },
  { header: 'FLOOR', value: (t) => String(t.floorId) },
  { header: 'OLDEST CURSOR', value: (t) => t.oldestCursor },
  { header: 'OLDEST CHANGE', value: (t) => t.oldestChangeAt ?? '-' },
];

export const status: Command = {
  name: 'status',
  synopsis: '[--json]',
  summary: 'replication health: slot, publication, capture, change log, warnings',
  details: [
    '  --json   the same facts as GET /api/admin/replication, as one JSON object',
    '',
    'Slot and publication names come from the sync-rules file (SYNC_CONFIG), as for the server.',
    'Takes about a second: capture progress is read twice to tell events/s.',
    'Warnings are listed last (critical first); the exit status is 0 whatever they say.',
  ].join('\n'),
  async run(args, ctx) {
    const { values } = parsing(() =>
      parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true }),
    );
    const options = statusOptionsFromRules(ctx.rules());
    const report = await ctx.withDatabase(async (pool) => {
      const rate = new RateMeter(PROGRESS_RATE);
      const first = Date.now();
      rate.reading(await readEventsStored(pool, options.slotName), first);
      await sleep(Math.max(0, first + PROGRESS_RATE.minSpanMs - Date.now()));
      return readReplicationStatus(pool, { ...options, rate });
    });
    ctx.io.out(values.json === true ? formatJson(report) : formatStatus(report));
  },
};

/** The status for people: one paragraph per part, tables where there are rows. */
export function formatStatus(s: ReplicationStatus): string {
  const { slot, publication, capture, log } = s;
  const bytes = (n: number | null): string => (n === null ? '-' : formatBytes(n));
  const lines: string[] = [];
  if (!slot.exists) {
    lines.push(`slot ${slot.name}: MISSING`);
  } else {
    const active = slot.active ? `active (pid ${slot.activePid ?? '?'})` : 'INACTIVE';
    lines.push(
      `slot ${slot.name}: ${active}, wal_status ${slot.walStatus ?? '-'}` +
        (slot.invalidationReason === null ? '' : ` (${slot.invalidationReason})`),
      `  restart_lsn ${slot.restartLsn ?? '-'}  confirmed_flush_lsn ${slot.confirmedFlushLsn ?? '-'}` +
        `  current ${s.database.currentWalLsn}`,
      `  retained WAL ${bytes(slot.retainedBytes)}  lag ${bytes(slot.lagBytes)}` +
        `  safe_wal_size ${slot.safeWalSizeBytes === null ? 'unlimited' : bytes(slot.safeWalSizeBytes)}`,
    );
  }
  lines.push('');
  if (!publication.exists) {
    lines.push(`publication ${publication.name}: MISSING`);
  } else {
    const ops = Object.entries(publication.operations)
      .filter(([, on]) => on)
      .map(([op]) => op);
    lines.push(
      `publication ${publication.name}: ${publication.tables.length} tables, publishes ${ops.join(', ') || 'nothing'}`,
      formatTable(publication.tables, TABLE_COLUMNS),
    );
  }
  lines.push(
    '',
    `capture: leader ${capture.leader ?? '-'}${capture.leaderConnected ? '' : ' (no leader connected)'}`,
    `  last stored LSN ${capture.lastLsn ?? '-'} committed ${capture.lastCommitTime ?? '-'}`,
    `  ${capture.eventsStored} events stored, ${capture.eventsPerSecond ?? '-'} events/s`,
    ...(capture.largeTransaction === null
      ? []
      : [
          `  storing a large transaction (commit ${capture.largeTransaction.commitLsn}) in pieces: ` +
            `${capture.largeTransaction.changesStored} of its changes stored so far`,
        ]),
    '',
    `sync_events: ${log.rowsExact ? '' : '~'}${log.rows} rows, ${formatBytes(log.bytes)}, last id ${log.lastEventId}`,
  );
  if (log.tenants.length > 0) lines.push(formatTable(log.tenants, TENANT_COLUMNS));
  lines.push('');
  if (s.warnings.length === 0) {
    lines.push('warnings: none');
  } else {
    lines.push(`warnings: ${s.warnings.length}`);
    for (const w of s.warnings) lines.push(`  ${w.severity.toUpperCase()} ${w.code}: ${w.message}`);
  }
  return lines.join('\n');
}
