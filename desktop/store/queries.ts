import type Database from 'better-sqlite3';
import type { EntityType } from '../../shared/entities.ts';
import { foldForSearch, rowToEntity, type Entity, type EntityRow } from './entity-store.ts';

type DocRow = Pick<EntityRow, 'doc' | 'server_version' | 'updated_at'>;
const COLUMNS = 'SELECT doc, server_version, updated_at FROM entities';

/**
 * Without statistics the planner prefers walking the primary key in `id` order over a filter index plus a
 * small sort, i.e. it would read every grade to list one exam's. INDEXED BY pins the index (and fails at
 * prepare time if the index cannot serve the query).
 */
function from(index: 'class' | 'student' | 'exam' | 'year'): string {
  return `${COLUMNS} INDEXED BY entities_by_${index}`;
}

/**
 * The screens' queries. Each filters on an indexed generated column (see migrations.ts), so none scans the
 * whole table; test/desk-store-queries checks their plans.
 */
export const SCREEN_SQL = {
  get: `${COLUMNS} WHERE entity_type = ? AND id = ? AND deleted = 0`,
  list: `${COLUMNS} WHERE entity_type = ? AND deleted = 0 ORDER BY id LIMIT ? OFFSET ?`,
  count: 'SELECT count(*) FROM entities WHERE entity_type = ? AND deleted = 0',
  studentsOfClass: `${from('class')} WHERE entity_type = 'STUDENT' AND class_id = ? AND deleted = 0
    ORDER BY search_key, id`,
  gradesOfExam: `${from('exam')} WHERE entity_type = 'GRADE' AND exam_id = ? AND deleted = 0 ORDER BY id`,
  gradesOfStudent: `${from('student')} WHERE entity_type = 'GRADE' AND student_id = ? AND deleted = 0 ORDER BY id`,
  paymentsOfStudent: `${from('student')} WHERE entity_type = 'PAYMENT' AND student_id = ? AND deleted = 0
    ORDER BY json_extract(doc, '$.paidAt') DESC, id`,
  attendanceOfClass: `${from('class')} WHERE entity_type = 'ATTENDANCE' AND class_id = ? AND on_date = ?
    AND deleted = 0 ORDER BY id`,
  absencesOfStudent: `${from('student')} WHERE entity_type = 'ABSENCE' AND student_id = ? AND deleted = 0
    ORDER BY on_date DESC, id`,
  incidentsOfStudent: `${from('student')} WHERE entity_type = 'DISCIPLINARY_INCIDENT' AND student_id = ?
    AND deleted = 0 ORDER BY on_date DESC, id`,
  examsOfClass: `${from('class')} WHERE entity_type = 'EXAM' AND class_id = ? AND deleted = 0 ORDER BY on_date, id`,
  classesOfYear: `${from('year')} WHERE entity_type = 'CLASS' AND academic_year_id = ? AND deleted = 0
    ORDER BY json_extract(doc, '$.name'), id`,
} as const;

const SEARCH_TERM = ` AND (search_key LIKE ? ESCAPE '\\' OR search_key LIKE ? ESCAPE '\\')`;

/** SQL of a name search with `terms` words: each word must start one of the name's words. */
export function searchSql(terms: number): string {
  return `${COLUMNS} INDEXED BY entities_by_name WHERE entity_type = ? AND search_key IS NOT NULL AND deleted = 0${SEARCH_TERM.repeat(terms)}
    ORDER BY search_key, id LIMIT ?`;
}

const MAX_SEARCH_TERMS = 4;

export class EntityQueries {
  private readonly stmts: { [K in keyof typeof SCREEN_SQL]: Database.Statement<unknown[], DocRow> };
  private readonly countStmt: Database.Statement<[EntityType], number>;
  private readonly searchStmts = new Map<number, Database.Statement<unknown[], DocRow>>();

  constructor(private readonly db: Database.Database) {
    const entries = Object.entries(SCREEN_SQL).map(([name, sql]) => [
      name,
      db.prepare<unknown[], DocRow>(sql),
    ]);
    this.stmts = Object.fromEntries(entries) as typeof this.stmts;
    this.countStmt = db.prepare<[EntityType], number>(SCREEN_SQL.count).pluck();
  }

  get<T extends EntityType>(type: T, id: string): Entity<T> | undefined {
    const row = this.stmts.get.get(type, id);
    return row === undefined ? undefined : rowToEntity<T>(row);
  }

  list<T extends EntityType>(type: T, options: { limit?: number; offset?: number } = {}): Entity<T>[] {
    return this.all<T>('list', type, options.limit ?? -1, options.offset ?? 0);
  }

  count(type: EntityType): number {
    return this.countStmt.get(type) ?? 0;
  }

  all<T extends EntityType>(query: keyof typeof SCREEN_SQL, ...params: unknown[]): Entity<T>[] {
    return this.stmts[query].all(...params).map((row) => rowToEntity<T>(row));
  }

  /** Accent- and case-insensitive: "emi dup" finds "Dupont Émilie". At most four words count. */
  searchPeople<T extends 'STUDENT' | 'TEACHER'>(type: T, text: string, limit: number): Entity<T>[] {
    const terms = foldForSearch(text)
      .split(/\s+/)
      .filter((t) => t !== '')
      .slice(0, MAX_SEARCH_TERMS);
    if (terms.length === 0) return [];
    let stmt = this.searchStmts.get(terms.length);
    if (stmt === undefined) {
      stmt = this.db.prepare<unknown[], DocRow>(searchSql(terms.length));
      this.searchStmts.set(terms.length, stmt);
    }
    const params = terms.flatMap((term) => {
      const escaped = term.replace(/[\\%_]/g, (c) => `\\${c}`);
      return [`${escaped}%`, `% ${escaped}%`];
    });
    return stmt.all(type, ...params, limit).map((row) => rowToEntity<T>(row));
  }
}
