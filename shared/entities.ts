import { z } from 'zod';

/** The eleven synced entity types, in the order a fresh desk applies them (referenced types first). */
export const ENTITY_TYPES = [
  'ACADEMIC_YEAR',
  'SCHOOL_LEVEL',
  'CLASS',
  'STUDENT',
  'TEACHER',
  'EXAM',
  'GRADE',
  'PAYMENT',
  'ATTENDANCE',
  'ABSENCE',
  'DISCIPLINARY_INCIDENT',
] as const;

export const entityTypeSchema = z.enum(ENTITY_TYPES);
export type EntityType = z.infer<typeof entityTypeSchema>;

/** Server table of each entity type (PROTOCOL "Server tables"). */
export const ENTITY_TABLES: Readonly<Record<EntityType, string>> = {
  ACADEMIC_YEAR: 'academic_years',
  SCHOOL_LEVEL: 'school_levels',
  CLASS: 'classes',
  STUDENT: 'students',
  TEACHER: 'teachers',
  EXAM: 'exams',
  GRADE: 'grades',
  PAYMENT: 'payments',
  ATTENDANCE: 'attendances',
  ABSENCE: 'absences',
  DISCIPLINARY_INCIDENT: 'disciplinary_incidents',
};

const TABLE_TO_TYPE: ReadonlyMap<string, EntityType> = new Map(
  ENTITY_TYPES.map((type) => [ENTITY_TABLES[type], type]),
);

export function entityTypeOfTable(table: string): EntityType | undefined {
  return TABLE_TO_TYPE.get(table);
}

export function isEntityType(value: unknown): value is EntityType {
  return typeof value === 'string' && (ENTITY_TYPES as readonly string[]).includes(value);
}

/** Ids are UUIDs in lowercase canonical form. */
export const uuidSchema = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a lowercase UUID');

/** Versions are integers; JSON may carry them as numbers or decimal strings. */
export const versionSchema = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d{1,19}$/, 'must be a decimal integer')
    .transform((s) => Number(s)),
]);

// Postgres has no year 0: '0000-…' is refused by date and timestamptz columns.
const NO_YEAR_ZERO = [(s: string) => !s.startsWith('0000'), 'the year must be 0001 or later'] as const;
const isoDate = z.iso.date().refine(...NO_YEAR_ZERO);
const isoDateTime = z.iso.datetime({ offset: true }).refine(...NO_YEAR_ZERO);
const text = z.string().max(100_000);
const name = z.string().trim().min(1).max(200);
/** An int4 column (Postgres `integer`). */
const int4 = z
  .number()
  .int()
  .min(-(2 ** 31))
  .max(2 ** 31 - 1);

/** Fields every entity payload carries. Unknown fields pass through: the server may have more columns. */
const base = {
  id: uuidSchema,
  tenantId: uuidSchema,
  serverVersion: versionSchema.optional(),
  updatedAt: isoDateTime.optional(),
};

/** Fields the server sets on every entity (`id` made by the desk, then fixed): never written by an upload. */
export const SERVER_MANAGED_FIELDS: ReadonlySet<string> = new Set(Object.keys(base));
/** The same as columns of the entity tables. */
export const SERVER_MANAGED_COLUMNS: ReadonlySet<string> = new Set(
  [...SERVER_MANAGED_FIELDS].map((field) => snakeCase(field)),
);

export const entityPayloadSchemas = {
  ACADEMIC_YEAR: z.looseObject({ ...base, label: name, startDate: isoDate, endDate: isoDate }),
  SCHOOL_LEVEL: z.looseObject({ ...base, name, rank: int4 }),
  CLASS: z.looseObject({ ...base, name, schoolLevelId: uuidSchema, academicYearId: uuidSchema }),
  STUDENT: z.looseObject({
    ...base,
    firstName: name,
    lastName: name,
    birthDate: isoDate.nullish(),
    classId: uuidSchema.nullish(),
    notes: text.nullish(),
  }),
  TEACHER: z.looseObject({ ...base, firstName: name, lastName: name, email: z.email().nullish() }),
  EXAM: z.looseObject({
    ...base,
    classId: uuidSchema,
    subject: name,
    date: isoDate,
    maxScore: z.number().positive(),
  }),
  GRADE: z.looseObject({ ...base, examId: uuidSchema, studentId: uuidSchema, score: z.number() }),
  PAYMENT: z.looseObject({
    ...base,
    studentId: uuidSchema,
    amountCents: z.number().int(),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
    paidAt: isoDateTime,
    method: name,
  }),
  ATTENDANCE: z.looseObject({
    ...base,
    studentId: uuidSchema,
    classId: uuidSchema,
    date: isoDate,
    status: z.enum(['PRESENT', 'LATE', 'ABSENT']),
  }),
  ABSENCE: z.looseObject({
    ...base,
    studentId: uuidSchema,
    date: isoDate,
    reason: text,
    justified: z.boolean(),
  }),
  DISCIPLINARY_INCIDENT: z.looseObject({
    ...base,
    studentId: uuidSchema,
    date: isoDate,
    description: text,
    severity: z.enum(['LOW', 'MEDIUM', 'HIGH']),
  }),
} as const satisfies Record<EntityType, z.ZodType>;

/** The payload fields of each type that the schemas above name, server-managed ones (`base`) left out. */
export const ENTITY_FIELDS = Object.fromEntries(
  ENTITY_TYPES.map((type) => [
    type,
    Object.keys(entityPayloadSchemas[type].shape).filter((field) => !(field in base)),
  ]),
) as unknown as Readonly<Record<EntityType, readonly string[]>>;

export type EntityPayloads = { [T in EntityType]: z.infer<(typeof entityPayloadSchemas)[T]> };
export type StudentPayload = EntityPayloads['STUDENT'];

/** snake_case column → camelCase payload field. */
export function camelCase(column: string): string {
  return column.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** camelCase payload field → snake_case column. */
export function snakeCase(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
