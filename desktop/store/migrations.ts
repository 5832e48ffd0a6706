import type Database from 'better-sqlite3';
import { DeskStoreError } from './errors.ts';

export interface DeskMigration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The desk schema, one entry per version, never edited once shipped: a change is a new entry.
 * Entity rows keep the server's whole payload as JSON (`doc`), so a column the server adds later reaches
 * the desk without a migration; what the screens filter on is a VIRTUAL generated column with an index.
 */
export const MIGRATIONS: readonly DeskMigration[] = [
  {
    version: 1,
    name: 'entities, outbox, sync state',
    sql: `
CREATE TABLE entities (
  entity_type      TEXT    NOT NULL,
  id               TEXT    NOT NULL,
  tenant_id        TEXT    NOT NULL,
  server_version   INTEGER NOT NULL DEFAULT 0,
  deleted          INTEGER NOT NULL DEFAULT 0,
  -- 1 while doc holds a local edit rather than the server's own copy at server_version
  local_doc        INTEGER NOT NULL DEFAULT 0,
  doc              TEXT    NOT NULL,
  updated_at       TEXT,
  -- accent- and case-folded "last first" for people, computed by the desk (SQLite lower() is ASCII only)
  search_key       TEXT,
  class_id         TEXT GENERATED ALWAYS AS (json_extract(doc, '$.classId')) VIRTUAL,
  student_id       TEXT GENERATED ALWAYS AS (json_extract(doc, '$.studentId')) VIRTUAL,
  exam_id          TEXT GENERATED ALWAYS AS (json_extract(doc, '$.examId')) VIRTUAL,
  academic_year_id TEXT GENERATED ALWAYS AS (json_extract(doc, '$.academicYearId')) VIRTUAL,
  on_date          TEXT GENERATED ALWAYS AS (json_extract(doc, '$.date')) VIRTUAL,
  PRIMARY KEY (entity_type, id)
);
CREATE INDEX entities_by_class   ON entities (entity_type, class_id, on_date) WHERE class_id IS NOT NULL;
CREATE INDEX entities_by_student ON entities (entity_type, student_id, on_date) WHERE student_id IS NOT NULL;
CREATE INDEX entities_by_exam    ON entities (entity_type, exam_id) WHERE exam_id IS NOT NULL;
CREATE INDEX entities_by_year    ON entities (entity_type, academic_year_id) WHERE academic_year_id IS NOT NULL;
CREATE INDEX entities_by_name    ON entities (entity_type, search_key) WHERE search_key IS NOT NULL;

-- The newest server change that arrived while the entity had an unresolved outbox event.
CREATE TABLE held_changes (
  entity_type    TEXT    NOT NULL,
  id             TEXT    NOT NULL,
  tenant_id      TEXT    NOT NULL,
  server_version INTEGER NOT NULL,
  deleted        INTEGER NOT NULL,
  doc            TEXT    NOT NULL,
  updated_at     TEXT,
  search_key     TEXT,
  PRIMARY KEY (entity_type, id)
);

CREATE TABLE outbox_events (
  seq                INTEGER PRIMARY KEY AUTOINCREMENT,
  id                 TEXT    NOT NULL UNIQUE,
  tenant_id          TEXT    NOT NULL,
  entity_type        TEXT    NOT NULL,
  entity_id          TEXT    NOT NULL,
  operation          TEXT    NOT NULL CHECK (operation IN ('CREATE', 'UPDATE', 'DELETE')),
  payload            TEXT    NOT NULL,
  local_version      INTEGER NOT NULL,
  created_at         TEXT    NOT NULL,
  last_attempt_at    TEXT,
  attempt_count      INTEGER NOT NULL DEFAULT 0,
  status             TEXT    NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'SENT', 'ACKNOWLEDGED', 'FAILED', 'CONFLICT')),
  error_code         TEXT,
  error_message      TEXT,
  server_event_id    TEXT,
  server_version     INTEGER,
  server_data        TEXT,
  acknowledged_at    TEXT,
  resolution         TEXT CHECK (resolution IN ('ACCEPT_SERVER', 'KEEP_LOCAL')),
  resolution_sent_at TEXT
);
CREATE INDEX outbox_events_status ON outbox_events (status, seq);
CREATE INDEX outbox_events_tenant ON outbox_events (tenant_id);
CREATE INDEX outbox_events_entity ON outbox_events (entity_type, entity_id, seq);

CREATE TABLE sync_state (
  tenant_id           TEXT PRIMARY KEY,
  client_id           TEXT NOT NULL UNIQUE,
  cursor              TEXT,
  last_sync_timestamp TEXT,
  -- while a snapshot is in progress: the types it covers (JSON array), its cursor and next page token
  snapshot_types      TEXT,
  snapshot_cursor     TEXT,
  snapshot_page_token TEXT,
  snapshot_started_at TEXT,
  updated_at          TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'refusals the user has seen',
    sql: `
-- When the user dismissed a refused (FAILED) edit: it leaves the list of refusals, and is pruned like an
-- acknowledged edit.
ALTER TABLE outbox_events ADD COLUMN dismissed_at TEXT;
`,
  },
  {
    version: 3,
    name: 'the rule of a refusal',
    sql: `
-- The server's machine-readable rule and parameters of a rejection (JSON { rule, params }), so that the
-- screens say it in the desk's language; NULL when the server sent none (an older server).
ALTER TABLE outbox_events ADD COLUMN error_detail TEXT;
`,
  },
];

/** Applies each migration above `PRAGMA user_version` once, in order, each in its own transaction. */
export function migrate(db: Database.Database, migrations: readonly DeskMigration[] = MIGRATIONS): number[] {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new DeskStoreError(
      'SCHEMA_TOO_NEW',
      `desk database is at schema ${current}, this build knows up to ${latest}: update the app`,
    );
  }
  const applied: number[] = [];
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
    applied.push(migration.version);
  }
  return applied;
}
