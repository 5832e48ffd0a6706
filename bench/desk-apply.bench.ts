/**
 * Desk catch-up apply: 1 000 000 server changes applied to a fresh desk file by DeskStore.applyChanges in
 * pages of 10 000 (each page + its cursor in one transaction), beside the floor measured in the same run:
 * the same rows inserted with one prepared INSERT in one transaction —
 *   floor (desk schema): into the desk's own `entities` table (same primary key and screen indexes);
 *   floor (bare table):  into a table with the same columns and primary key only.
 * Store runs: `commit per page` (each page committed before the next), and `group commit` (deferCommit:
 * pages still atomic with their cursor, one COMMIT per 250 000 changes).
 *
 *   npx tsx bench/desk-apply.bench.ts            (TOTAL=200000 for a quicker run)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase } from '../desktop/store/database.ts';
import { DeskStore } from '../desktop/store/index.ts';
import type { EntityType } from '../shared/entities.ts';
import type { Change } from '../shared/protocol.ts';

const TOTAL = Number(process.env.TOTAL ?? 1_000_000);
const PAGE = 10_000;
const TARGET_RATIO = 2.5;
const TENANT = randomUUID();
const MODIFIED_AT = '2024-09-02T08:00:00.000Z';

/** A school-like mix: mostly attendance and grades, some payments, absences, students … */
function generate(total: number): Change[] {
  const classes = Array.from({ length: 40 }, () => randomUUID());
  const students = Array.from({ length: 1200 }, () => randomUUID());
  const exams = Array.from({ length: 400 }, () => randomUUID());
  const pick = <T>(list: readonly T[], i: number): T => list[i % list.length] as T;
  const changes: Change[] = [];
  for (let i = 0; i < total; i++) {
    const serverVersion = i + 1;
    const id = randomUUID();
    const base = { id, tenantId: TENANT, serverVersion, updatedAt: MODIFIED_AT };
    const date = `2024-${String(9 + (i % 4)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`;
    let entityType: EntityType;
    let payload: Record<string, unknown>;
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
        entityType = 'ATTENDANCE';
        payload = {
          ...base,
          studentId: pick(students, i),
          classId: pick(classes, i),
          date,
          status: 'PRESENT',
        };
        break;
      case 4:
      case 5:
      case 6:
        entityType = 'GRADE';
        payload = { ...base, examId: pick(exams, i), studentId: pick(students, i * 7), score: (i % 41) / 2 };
        break;
      case 7:
        entityType = 'PAYMENT';
        payload = {
          ...base,
          studentId: pick(students, i * 3),
          amountCents: 2500 + (i % 100),
          currency: 'XOF',
          paidAt: `${date}T09:30:00.000Z`,
          method: 'MOBILE_MONEY',
        };
        break;
      case 8:
        entityType = 'ABSENCE';
        payload = {
          ...base,
          studentId: pick(students, i * 5),
          date,
          reason: 'Malade',
          justified: i % 3 === 0,
        };
        break;
      default:
        entityType = 'STUDENT';
        payload = {
          ...base,
          firstName: `Aïssatou ${i}`,
          lastName: 'Ndiaye',
          birthDate: '2012-03-14',
          classId: pick(classes, i),
          notes: null,
        };
    }
    changes.push({
      id: String(i),
      entityType,
      entityId: id,
      operation: 'CREATE',
      payload,
      serverVersion,
      modifiedAt: MODIFIED_AT,
    });
  }
  return changes;
}

interface Timing {
  wall: number;
  cpu: number;
}

/** Wall time, and CPU time of this process (user + system): the fairer figure on a shared, busy host. */
function timed(label: string, run: () => void): Timing {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  run();
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpuStart);
  const cpu = (used.user + used.system) / 1e6;
  const rate = Math.round(TOTAL / wall).toLocaleString('en-US');
  console.log(
    `${label.padEnd(32)} ${wall.toFixed(2).padStart(6)} s wall ${cpu.toFixed(2).padStart(6)} s cpu ${rate.padStart(9)} changes/s`,
  );
  return { wall, cpu };
}

function floorInsert(db: Database.Database, table: string, changes: readonly Change[]): void {
  const insert = db.prepare(
    `INSERT INTO ${table} (entity_type, id, tenant_id, server_version, deleted, doc, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)`,
  );
  db.transaction(() => {
    for (const c of changes) {
      insert.run(c.entityType, c.entityId, TENANT, c.serverVersion, JSON.stringify(c.payload), c.modifiedAt);
    }
  })();
}

const dir = mkdtempSync(join(tmpdir(), 'desk-apply-bench-'));
try {
  console.log(`generating ${TOTAL.toLocaleString('en-US')} changes …`);
  const changes = generate(TOTAL);
  const pages: Change[][] = [];
  for (let i = 0; i < changes.length; i += PAGE) pages.push(changes.slice(i, i + PAGE));
  console.log(
    `desk apply, ${pages.length} pages of ${PAGE.toLocaleString('en-US')} (SQLite ${String(new Database(':memory:').prepare('SELECT sqlite_version()').pluck().get())})`,
  );

  const floorSchema = timed('floor (desk schema, 1 txn)', () => {
    const db = openDatabase(join(dir, 'floor-schema.db'));
    floorInsert(db, 'entities', changes);
    db.close();
  });
  const floorBare = timed('floor (bare table, 1 txn)', () => {
    const db = openDatabase(join(dir, 'floor-bare.db'));
    db.exec(`CREATE TABLE bare (entity_type TEXT NOT NULL, id TEXT NOT NULL, tenant_id TEXT NOT NULL,
      server_version INTEGER NOT NULL, deleted INTEGER NOT NULL, doc TEXT NOT NULL, updated_at TEXT,
      PRIMARY KEY (entity_type, id))`);
    floorInsert(db, 'bare', changes);
    db.close();
  });
  const perPage = timed('DeskStore, commit per page', () => {
    const store = DeskStore.open(join(dir, 'store-paged.db'), { tenantId: TENANT });
    pages.forEach((page, i) => store.applyChanges(page, `cursor-${i}`));
    store.close();
  });
  const grouped = timed('DeskStore, group commit (250k)', () => {
    const store = DeskStore.open(join(dir, 'store-grouped.db'), { tenantId: TENANT });
    pages.forEach((page, i) => store.applyChanges(page, `cursor-${i}`, { deferCommit: true }));
    store.close();
  });

  const check = DeskStore.open(join(dir, 'store-grouped.db'), { tenantId: TENANT });
  const rows = (['ATTENDANCE', 'GRADE', 'PAYMENT', 'ABSENCE', 'STUDENT'] as const).reduce(
    (n, t) => n + check.count(t),
    0,
  );
  if (rows !== TOTAL || check.syncState().cursor !== `cursor-${pages.length - 1}`)
    throw new Error(`store holds ${rows} rows`);
  check.close();

  const ratio = (run: Timing, floor: Timing): string =>
    `${(run.wall / floor.wall).toFixed(2)}× wall, ${(run.cpu / floor.cpu).toFixed(2)}× cpu`;
  console.log('');
  const floors = [
    ['desk schema', floorSchema],
    ['bare table', floorBare],
  ] as const;
  for (const [name, floor] of floors) {
    const worst = Math.max(grouped.wall / floor.wall, grouped.cpu / floor.cpu);
    console.log(
      `vs floor (${name}): commit per page ${ratio(perPage, floor)}; group commit ${ratio(grouped, floor)}` +
        ` → target ≤ ${TARGET_RATIO}× ${worst <= TARGET_RATIO ? 'met' : 'NOT met'}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
