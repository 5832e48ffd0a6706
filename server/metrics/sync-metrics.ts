import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';
import type { SyncDirection } from '../log/sync-log.ts';
import type { SlotWarning } from '../ops/slot-guard.ts';
import type { EventOutcome } from '../upload/outcomes.ts';
import { CachedRead } from './cached-read.ts';
import { readDatabaseFacts, type DatabaseFacts } from './database-facts.ts';

/** What the socket side tells the metrics of this node's desks. */
export interface DeskFigures {
  connections: number;
  /** Desks that send acks, whose lag is known. */
  acking: number;
  /** The largest lag, in changes, among them (0 when none acks). */
  maxLagEvents: number;
}

/** What the metrics read of this process's capture at scrape time (server/capture Capture.status fits). */
export interface CaptureMetricsSource {
  leader: boolean;
  eventsPerSecond: number;
  queuedRows: number;
  /** Events this process stored since it started; absent: the counter is not exported. */
  eventsStored?: number;
}

export interface SyncMetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop, GC) on the same registry. Default true. */
  defaultMetrics?: boolean;
  /** How long a scrape waits for its database reading before omitting those metrics. Default 2 000 ms. */
  databaseTimeoutMs?: number;
}

/** Where a scrape-time reading failed: the label of sync_metrics_errors_total. */
export type MetricsErrorSource = 'database' | 'capture' | 'desks';

const SLOT_LEVELS: Readonly<Record<SlotWarning['level'], number>> = { ok: 0, warning: 1, critical: 2 };
/** A failing source is logged at most this often; the error counter counts every failure. */
const ERROR_LOG_EVERY_MS = 60_000;

/**
 * This process's metrics on a registry of its own (never prom-client's global one: several apps may live in
 * one process). Sources are read at scrape time through callbacks; a source that fails is omitted from
 * that scrape and counted in sync_metrics_errors_total, so a scrape never fails because a part did.
 */
export class SyncMetrics {
  readonly registry = new Registry();
  private captureSource: (() => CaptureMetricsSource) | null = null;
  private deskSource: (() => DeskFigures) | null = null;
  private database: CachedRead<DatabaseFacts> | null = null;
  private readonly databaseTimeoutMs: number;
  private readonly lastErrorLog = new Map<MetricsErrorSource, number>();

  private readonly errors: Counter<'source'>;
  private readonly lagBytes: Gauge;
  private readonly retainedBytes: Gauge;
  private readonly lagSeconds: Gauge;
  private readonly eventRows: Gauge;
  private readonly slotLevel: Gauge;
  private readonly leader: Gauge;
  private readonly eventsPerSecond: Gauge;
  private readonly queuedRows: Gauge;
  private readonly eventsStored: Counter;
  private readonly desks: Gauge;
  private readonly desksAcking: Gauge;
  private readonly deskLagMax: Gauge;
  private readonly pushLatency: Histogram;
  private readonly uploadEvents: Counter<'outcome' | 'code'>;
  private readonly syncLogFailures: Counter<'direction'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;

  constructor(
    private readonly log: Pick<Logger, 'warn'>,
    options: SyncMetricsOptions = {},
  ) {
    this.databaseTimeoutMs = options.databaseTimeoutMs ?? 2_000;
    const registers = [this.registry];
    /** A gauge with no sample until its source gives one. */
    const gauge = (name: string, help: string): Gauge => {
      const created = new Gauge({ name, help, registers });
      created.remove();
      return created;
    };
    this.errors = new Counter({
      name: 'sync_metrics_errors_total',
      help: 'Scrape-time readings that failed, by source; the metrics of that source were omitted from the scrape.',
      labelNames: ['source'],
      registers,
    });
    this.lagBytes = gauge(
      'sync_capture_lag_bytes',
      "WAL written past the replication slot's confirmed_flush_lsn (read at scrape time).",
    );
    this.retainedBytes = gauge(
      'sync_capture_retained_wal_bytes',
      'WAL the replication slot keeps on disk: current WAL position minus restart_lsn.',
    );
    this.lagSeconds = gauge(
      'sync_capture_lag_seconds',
      'Seconds since the commit time of the last transaction capture stored (grows on a quiet database too).',
    );
    this.eventRows = gauge(
      'sync_events_rows',
      "Rows of the change log sync_events: the planner's estimate, not an exact count.",
    );
    this.slotLevel = gauge(
      'sync_slot_wal_level',
      "The slot guard's last finding: 0 ok, 1 warning (retained WAL over the warn threshold), 2 critical.",
    );
    this.leader = gauge(
      'sync_capture_leader',
      'Whether this process leads capture (streams the slot): 1, or stands by: 0.',
    );
    this.eventsPerSecond = gauge(
      'sync_capture_events_per_second',
      'Change events this process stored per second, over the last minute.',
    );
    this.queuedRows = gauge('sync_capture_queued_rows', 'Decoded rows waiting in this process to be stored.');
    this.eventsStored = new Counter({
      name: 'sync_capture_events_stored_total',
      help: 'Change events this process stored into sync_events since it started.',
      registers,
    });
    this.eventsStored.remove();
    this.desks = gauge('sync_desks_connected', 'Desk WebSockets connected to this node.');
    this.desksAcking = gauge(
      'sync_desks_acking',
      'Desks on this node that acknowledge what they applied (the lag below is known for them).',
    );
    this.deskLagMax = gauge(
      'sync_desk_lag_events_max',
      'Among the acknowledging desks of this node: the most changes sent or due that a desk has not applied yet.',
    );
    this.pushLatency = new Histogram({
      name: 'sync_push_latency_seconds',
      help: 'From the commit of a change to its frame being written to a desk socket of this node.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.uploadEvents = new Counter({
      name: 'sync_upload_events_total',
      help: 'Uploaded outbox events by outcome (acknowledged, conflict, rejected) and code (OK, CONFLICT or the reject code).',
      labelNames: ['outcome', 'code'],
      registers,
    });
    this.syncLogFailures = new Counter({
      name: 'sync_log_failures_total',
      help: 'sync_log rows written with status FAILED, by direction (UP, DOWN, SNAPSHOT).',
      labelNames: ['direction'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'sync_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code (WebSocket upgrades excluded).',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The Prometheus text of every metric, each source read once now. A failed source leaves its metrics
   * without a sample; the scrape itself does not fail for it.
   */
  async scrape(): Promise<string> {
    this.refreshCapture();
    const desks = this.readSource('desks', this.deskSource);
    setOrRemove(this.desks, desks?.connections ?? null);
    setOrRemove(this.desksAcking, desks?.acking ?? null);
    setOrRemove(this.deskLagMax, desks?.maxLagEvents ?? null);
    await this.refreshDatabase();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The database the scrape-time facts are read from, and the slot they are about. They are read at most
   * once a second: scrapes closer together share the reading.
   */
  watchDatabase(source: { pool: Pool; slotName: string }): void {
    this.database = new CachedRead(() =>
      readDatabaseFacts(source.pool, source.slotName, this.databaseTimeoutMs),
    );
  }

  /** Database readings made for scrapes (several scrapes within a second share one). */
  get databaseReads(): number {
    return this.database?.reads ?? 0;
  }

  /** This process's capture (`() => capture.status`): leader, events/s, events stored, queued rows. */
  setCaptureSource(source: () => CaptureMetricsSource): void {
    this.captureSource = source;
  }

  hasCaptureSource(): boolean {
    return this.captureSource !== null;
  }

  /** Hook for the socket side: the desks of this node now. Read at every scrape. */
  setDeskSource(source: () => DeskFigures): void {
    this.deskSource = source;
  }

  /** Hook for the push side: seconds from a change's commit to its frame written to a desk socket. */
  observePushLatency(seconds: number): void {
    if (Number.isFinite(seconds)) this.pushLatency.observe(Math.max(0, seconds));
  }

  /** Counts each event of an upload answer under its outcome and code. */
  countUploadOutcomes(outcomes: readonly EventOutcome[]): void {
    for (const outcome of outcomes) {
      if (outcome.list === 'acknowledged') this.uploadEvents.inc({ outcome: 'acknowledged', code: 'OK' });
      else if (outcome.list === 'conflicts') this.uploadEvents.inc({ outcome: 'conflict', code: 'CONFLICT' });
      else this.uploadEvents.inc({ outcome: 'rejected', code: outcome.entry.code });
    }
  }

  /** A sync_log row was written (or attempted) with status FAILED. */
  countSyncLogFailure(direction: SyncDirection): void {
    this.syncLogFailures.inc({ direction });
  }

  observeHttpRequest(labels: { method: string; route: string; statusCode: number }, seconds: number): void {
    this.httpDuration.observe(
      { method: labels.method, route: labels.route, status_code: String(labels.statusCode) },
      seconds,
    );
  }

  /** The slot guard's finding (SlotGuardOptions.onWarning). */
  setSlotWarning(warning: Pick<SlotWarning, 'level'>): void {
    this.slotLevel.set(SLOT_LEVELS[warning.level]);
  }

  /** Calls a source; a missing or failing one is null (the failure counted and logged). */
  private readSource<T>(source: MetricsErrorSource, read: (() => T) | null): T | null {
    if (read === null) return null;
    try {
      return read();
    } catch (error) {
      this.failed(source, error);
      return null;
    }
  }

  private refreshCapture(): void {
    const status = this.readSource('capture', this.captureSource);
    setOrRemove(this.leader, status === null ? null : status.leader ? 1 : 0);
    setOrRemove(this.eventsPerSecond, status?.eventsPerSecond);
    setOrRemove(this.queuedRows, status?.queuedRows);
    const stored = status?.eventsStored;
    this.eventsStored.reset();
    if (stored === undefined) this.eventsStored.remove();
    else this.eventsStored.inc(stored);
  }

  private async refreshDatabase(): Promise<void> {
    const database = this.database;
    let facts: DatabaseFacts | null = null;
    if (database !== null) {
      facts = await database.get().then(
        (read) => read.value,
        (error: unknown) => {
          this.failed('database', error);
          return null;
        },
      );
    }
    setOrRemove(this.lagBytes, facts?.lagBytes);
    setOrRemove(this.retainedBytes, facts?.retainedBytes);
    setOrRemove(this.lagSeconds, facts?.lagSeconds);
    setOrRemove(this.eventRows, facts?.eventRows);
  }

  private failed(source: MetricsErrorSource, error: unknown): void {
    this.errors.inc({ source });
    const now = Date.now();
    if (now - (this.lastErrorLog.get(source) ?? 0) < ERROR_LOG_EVERY_MS) return;
    this.lastErrorLog.set(source, now);
    this.log.warn({ err: error, source }, 'metrics: a scrape-time reading failed; its metrics are omitted');
  }
}

function setOrRemove(gauge: Gauge, value: number | null | undefined): void {
  if (value === null || value === undefined) gauge.remove();
  else gauge.set(value);
}
