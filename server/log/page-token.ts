import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { entityTypeSchema, uuidSchema, type EntityType } from '../../shared/entities.ts';
import { SyncError } from '../errors.ts';
import { decodeCursor } from './cursor.ts';

/**
 * Where a snapshot continues: the cursor fixed by its first page, the types it covers (in ENTITY_TYPES
 * order), and the last row handed out (`entityTypes[typeIndex]`, `lastId`; null: that type not started).
 */
export interface SnapshotPosition {
  cursor: string;
  entityTypes: EntityType[];
  typeIndex: number;
  lastId: string | null;
}

const positionSchema = z
  .strictObject({
    cursor: z.string(),
    entityTypes: z.array(entityTypeSchema).min(1),
    typeIndex: z.number().int().nonnegative(),
    lastId: uuidSchema.nullable(),
  })
  .refine((p) => p.typeIndex < p.entityTypes.length, 'typeIndex out of range');

/**
 * Page tokens are base64url JSON plus an HMAC over it and the tenant, so that a desk can neither move the
 * snapshot's cursor (and silently skip changes) nor replay another tenant's token.
 */
export class PageTokenCodec {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = createHmac('sha256', secret).update('snapshot-page-token').digest();
  }

  encode(tenantId: string, position: SnapshotPosition): string {
    const body = Buffer.from(JSON.stringify(position)).toString('base64url');
    return `${body}.${this.#mac(tenantId, body).toString('base64url')}`;
  }

  /** Throws INVALID_PAGE_TOKEN (400) for anything this server did not issue to this tenant. */
  decode(tenantId: string, token: string): SnapshotPosition {
    const [body = '', mac = '', ...rest] = token.split('.');
    // Compared as text: base64url decoding ignores the unused low bits of the last character, so comparing
    // decoded bytes would take four spellings of one MAC.
    const given = Buffer.from(mac);
    const expected = Buffer.from(this.#mac(tenantId, body).toString('base64url'));
    if (rest.length > 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw invalidPageToken();
    }
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch (cause) {
      throw invalidPageToken(cause);
    }
    const parsed = positionSchema.safeParse(json);
    if (!parsed.success) throw invalidPageToken(parsed.error);
    try {
      decodeCursor(parsed.data.cursor);
    } catch (cause) {
      throw invalidPageToken(cause);
    }
    return parsed.data;
  }

  #mac(tenantId: string, body: string): Buffer {
    return createHmac('sha256', this.#key).update(`${tenantId}.${body}`).digest();
  }
}

function invalidPageToken(cause?: unknown): SyncError {
  return new SyncError(
    'INVALID_PAGE_TOKEN',
    'pageToken was not issued by this server for this tenant',
    undefined,
    cause === undefined ? undefined : { cause },
  );
}
