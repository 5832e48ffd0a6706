import type { StatusWarningCode } from '../../shared/errors.ts';
import type { ReplicationStatus, StatusWarning } from './status-schema.ts';
import { formatBytes, type WalThresholds } from './thresholds.ts';

export interface WarningContext extends WalThresholds {
  /** Tables of the synced entity types: each must be in the publication. */
  entityTables: readonly string[];
  currentSchema: string;
}

/**
 * What in a status reading needs a DBA, most urgent first. Codes are stable (scripts and the README's
 * "what each warning means" key on them); messages say what happens and what to do.
 */
export function statusWarnings(status: ReplicationStatus, context: WarningContext): StatusWarning[] {
  const warnings: StatusWarning[] = [];
  const critical = (code: StatusWarningCode, message: string): void => {
    warnings.push({ code, severity: 'critical', message });
  };
  const warning = (code: StatusWarningCode, message: string): void => {
    warnings.push({ code, severity: 'warning', message });
  };
  const { slot, publication, capture, database } = status;

  if (database.walLevel !== 'logical') {
    critical(
      'WAL_LEVEL_NOT_LOGICAL',
      `wal_level is ${database.walLevel}: set wal_level = logical and restart Postgres`,
    );
  }
  if (!slot.exists) {
    critical(
      'SLOT_MISSING',
      `replication slot ${slot.name} does not exist: changes are not being kept for capture; the server ` +
        'recreates it (every desk then resyncs), or run sync-admin slot recreate',
    );
  } else if (slot.walStatus === 'lost') {
    critical(
      'SLOT_LOST',
      `replication slot ${slot.name} is lost (${slot.invalidationReason ?? 'WAL removed'}): changes were dropped; ` +
        'the server recreates it and every desk resyncs, or run sync-admin slot recreate',
    );
  } else {
    if (slot.database !== null && slot.database !== database.name) {
      critical(
        'SLOT_OTHER_DATABASE',
        `replication slot ${slot.name} belongs to database ${slot.database}, not ${database.name}: ` +
          'give this server its own slot name in the sync-rules file',
      );
    }
    if (slot.walStatus === 'unreserved') {
      critical(
        'SLOT_UNRESERVED',
        `replication slot ${slot.name} holds more WAL than max_slot_wal_keep_size allows: it will be lost at ` +
          'the next checkpoint unless capture catches up',
      );
    }
    const retained = slot.retainedBytes ?? 0;
    if (retained >= context.walCriticalBytes) {
      critical(
        'WAL_RETAINED_CRITICAL',
        `slot ${slot.name} retains ${formatBytes(retained)} of WAL (critical above ` +
          `${formatBytes(context.walCriticalBytes)}): capture is stopped or far behind; the disk fills next`,
      );
    } else if (retained >= context.walWarnBytes) {
      warning(
        'WAL_RETAINED_HIGH',
        `slot ${slot.name} retains ${formatBytes(retained)} of WAL (warning above ` +
          `${formatBytes(context.walWarnBytes)}): check that capture is running`,
      );
    }
    if (!slot.active) {
      warning(
        'SLOT_INACTIVE',
        `no capture is streaming from slot ${slot.name}: WAL accumulates until a server runs capture`,
      );
    }
  }

  if (!publication.exists) {
    critical(
      'PUBLICATION_MISSING',
      `publication ${publication.name} does not exist: nothing is captured; start the server (it creates it)`,
    );
  } else {
    const skipped = Object.entries(publication.operations)
      .filter(([, on]) => !on)
      .map(([operation]) => operation);
    if (skipped.length > 0) {
      critical(
        'PUBLICATION_OPERATIONS',
        `publication ${publication.name} does not publish ${skipped.join(', ')}: those changes never reach desks`,
      );
    }
    const published = new Set(
      publication.tables.filter((t) => t.schema === context.currentSchema).map((t) => t.name),
    );
    for (const table of context.entityTables) {
      if (!published.has(table)) {
        critical(
          'TABLE_NOT_PUBLISHED',
          `entity table ${table} is not in publication ${publication.name}: its changes never reach desks; ` +
            `run sync-admin publication add ${table}`,
        );
      }
    }
    for (const table of publication.tables) {
      const name = `${table.schema}.${table.name}`;
      if (!table.hasTenantId) {
        warning(
          'TABLE_WITHOUT_TENANT_ID',
          `published table ${name} has no tenant_id column: capture cannot tell whose its changes are; ` +
            `run sync-admin publication remove ${table.name}`,
        );
      }
      if (table.replicaIdentity !== 'full') {
        warning(
          'REPLICA_IDENTITY_NOT_FULL',
          `published table ${name} has REPLICA IDENTITY ${table.replicaIdentity.toUpperCase()}: an UPDATE may ` +
            `miss unchanged large values and a DELETE its tenant_id; run ALTER TABLE ${name} REPLICA IDENTITY FULL`,
        );
      }
    }
  }

  if (slot.exists && slot.walStatus !== 'lost' && !capture.leaderConnected) {
    warning('CAPTURE_NO_LEADER', 'no server holds capture leadership: no change is being captured');
  }
  const rank = (w: StatusWarning): number => (w.severity === 'critical' ? 0 : 1);
  return warnings.sort((a, b) => rank(a) - rank(b));
}
