/**
 * LSNs travel as text ('16/B374D848'); they are compared as 64-bit integers. Comparing the strings is
 * wrong: '0/10' < '0/9' as text.
 */
export function parseLsn(text: string): bigint {
  const slash = text.indexOf('/');
  if (slash < 1) throw new Error(`not an LSN: ${text}`);
  const high = BigInt(`0x${text.slice(0, slash)}`);
  const low = BigInt(`0x${text.slice(slash + 1)}`);
  return (high << 32n) | low;
}

export function formatLsn(lsn: bigint): string {
  const high = lsn >> 32n;
  const low = lsn & 0xffff_ffffn;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}
