import type { EntityType } from '../../shared/entities.ts';

/** Columns of each entity that reference another entity of the same tenant (foreign keys on the server). */
export const ENTITY_REFERENCES: Readonly<
  Record<EntityType, readonly { column: string; type: EntityType }[]>
> = {
  ACADEMIC_YEAR: [],
  SCHOOL_LEVEL: [],
  CLASS: [
    { column: 'school_level_id', type: 'SCHOOL_LEVEL' },
    { column: 'academic_year_id', type: 'ACADEMIC_YEAR' },
  ],
  STUDENT: [{ column: 'class_id', type: 'CLASS' }],
  TEACHER: [],
  EXAM: [{ column: 'class_id', type: 'CLASS' }],
  GRADE: [
    { column: 'exam_id', type: 'EXAM' },
    { column: 'student_id', type: 'STUDENT' },
  ],
  PAYMENT: [{ column: 'student_id', type: 'STUDENT' }],
  ATTENDANCE: [
    { column: 'student_id', type: 'STUDENT' },
    { column: 'class_id', type: 'CLASS' },
  ],
  ABSENCE: [{ column: 'student_id', type: 'STUDENT' }],
  DISCIPLINARY_INCIDENT: [{ column: 'student_id', type: 'STUDENT' }],
};
