import { createHash } from 'node:crypto';

/** The figures of PROTOCOL `/api/sync/checksum` for one entity type. */
export interface EntityChecksum {
  count: number;
  /** Decimal string of the sum modulo 2^64. */
  sum: string;
}

const MASK_64 = (1n << 64n) - 1n;

/** First 8 bytes (big-endian unsigned) of SHA-256 over `${id}:${serverVersion}`. */
export function rowHash(id: string, serverVersion: number | bigint | string): bigint {
  return createHash('sha256').update(`${id}:${serverVersion}`).digest().readBigUInt64BE(0);
}

/**
 * Order-independent checksum of a set of rows: the count and the sum mod 2^64 of their row hashes.
 * Server and desk feed it the same `(id, serverVersion)` pairs and must get the same figures.
 */
export class ChecksumAccumulator {
  private total = 0n;
  private rows = 0;

  add(id: string, serverVersion: number | bigint | string): void {
    this.total = (this.total + rowHash(id, serverVersion)) & MASK_64;
    this.rows += 1;
  }

  result(): EntityChecksum {
    return { count: this.rows, sum: this.total.toString() };
  }
}

export function checksumOf(
  rows: Iterable<readonly [id: string, serverVersion: number | bigint | string]>,
): EntityChecksum {
  const acc = new ChecksumAccumulator();
  for (const [id, version] of rows) acc.add(id, version);
  return acc.result();
}
