import { randomUUID } from 'node:crypto';
import type { Pool } from '../../server/db/pool.ts';

const INSERT_CHUNK = 100_000;

/** A positive integer command-line flag (`--name 123`), or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/**
 * `count` STUDENT events of about 250 bytes of JSON straight into sync_events, as capture would have written
 * them, with commit times 1 000 to the second; every `updateEvery`-th one an UPDATE (0: all CREATE).
 */
export async function seedStudentEvents(
  pool: Pool,
  tenantId: string,
  count: number,
  options: { updateEvery?: number; onProgress?: (seeded: number) => void } = {},
): Promise<void> {
  const updateEvery = options.updateEvery ?? 0;
  for (let from = 1; from <= count; from += INSERT_CHUNK) {
    const to = Math.min(count, from + INSERT_CHUNK - 1);
    await pool.query(
      // payload_bytes as capture writes it (the size of the payload's jsonb text).
      `WITH r AS (
         SELECT g, s.id, t.at, CASE WHEN $5::int > 0 AND g % $5::int = 0 THEN 'UPDATE' ELSE 'CREATE' END AS op,
           jsonb_build_object('id', s.id, 'tenantId', $1::uuid, 'firstName', 'Aminata' || (g % 997),
             'lastName', 'Diallo-' || (g % 1009), 'birthDate', make_date(2008 + g % 10, 1 + g % 12, 1 + g % 28),
             'classId', $4::uuid, 'serverVersion', g,
             'updatedAt', to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) AS payload
         FROM generate_series($2::integer, $3::integer) AS g,
           LATERAL (SELECT gen_random_uuid() AS id, g AS n) AS s,
           LATERAL (SELECT timestamptz '2025-01-06 08:00:00+00' + (g / 1000) * interval '1 second' AS at) AS t
       )
       INSERT INTO sync_events (tenant_id, entity_type, entity_id, operation, payload, server_version,
         commit_lsn, xid, modified_at, payload_bytes)
       SELECT $1, 'STUDENT', r.id, r.op, r.payload, r.g, '0/16B3748', 1000 + r.g / 1000, r.at,
         octet_length(r.payload::text)
       FROM r ORDER BY r.g`,
      [tenantId, from, to, randomUUID(), updateEvery],
    );
    options.onProgress?.(to);
  }
  await pool.query('VACUUM ANALYZE sync_events');
}
