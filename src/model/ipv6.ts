/**
 * IPv6 addresses and CIDR blocks as plain values. Parsing is strict (RFC 4291 text form: eight groups of one to
 * four hex digits, at most one `::`, no zone index, no embedded dotted quad, no white space); formatting is the
 * canonical RFC 5952 form, so that two spellings of one address compare equal as strings.
 */

export interface Cidr6 {
  /** The address as an unsigned 128-bit integer. */
  readonly base: bigint;
  readonly prefixLen: number;
}

const GROUP = /^[0-9a-fA-F]{1,4}$/;
const ALL_ONES = (1n << 128n) - 1n;

function groups(text: string): string[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  return parts.every((p) => GROUP.test(p)) ? parts : undefined;
}

export function parseIpv6(text: string): bigint | undefined {
  if (text.length > 39 || text.length < 2) return undefined;
  const gap = text.indexOf('::');
  let parts: string[] | undefined;
  if (gap < 0) {
    parts = groups(text);
    if (!parts || parts.length !== 8) return undefined;
  } else {
    if (text.indexOf('::', gap + 1) >= 0) return undefined;
    const head = groups(text.slice(0, gap));
    const tail = groups(text.slice(gap + 2));
    // `::` stands for at least one group of zeros.
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    parts = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  }
  let value = 0n;
  for (const p of parts) value = (value << 16n) | BigInt(parseInt(p, 16));
  return value;
}

/** Lower-case hex of a byte without leading zeros, and with them (two digits). */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16));
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * RFC 5952 (section 4) text of the 16 bytes, in network order, at `offset`: lower-case hex without leading zeros,
 * the longest run of two or more zero groups (the first of equal runs) as `::`. The one IPv6 formatter: the
 * rtnetlink parsers call it on an attribute in place (no copy, no BigInt), formatIpv6 on a value's bytes.
 */
export function formatIpv6Bytes(b: Uint8Array, offset = 0): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (b[offset + 2 * i] !== 0 || b[offset + 2 * i + 1] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && b[offset + 2 * j] === 0 && b[offset + 2 * j + 1] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out.length > 0 && out.charCodeAt(out.length - 1) !== 58) out += ':';
    const hi = b[offset + 2 * i] as number;
    const lo = b[offset + 2 * i + 1] as number;
    out += hi === 0 ? HEX[lo] : (HEX[hi] as string) + HEX2[lo];
  }
  return out;
}

/** formatIpv6 writes a value's bytes here; formatIpv6Bytes reads them before it returns, so one buffer serves every call. */
const SCRATCH = Buffer.alloc(16);

export function formatIpv6(value: bigint): string {
  return formatIpv6Bytes(writeIpv6(SCRATCH, value));
}

export function maskOf6(prefixLen: number): bigint {
  return prefixLen === 0 ? 0n : (ALL_ONES << BigInt(128 - prefixLen)) & ALL_ONES;
}

/** Parses `ADDR/N`. With `strictNetwork`, host bits must be zero (a subnet or prefix, not an interface address). */
export function parseCidr6(text: string, strictNetwork = true): Cidr6 | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const base = parseIpv6(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (base === undefined || !/^(?:[0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (strictNetwork && (base & ~maskOf6(prefixLen) & ALL_ONES) !== 0n) return undefined;
  return { base, prefixLen };
}

export function formatCidr6(c: Cidr6): string {
  return `${formatIpv6(c.base)}/${c.prefixLen}`;
}

export function contains6(net: Cidr6, addr: bigint): boolean {
  return (addr & maskOf6(net.prefixLen)) === net.base;
}

/** True when `inner` lies wholly inside `outer`. */
export function covers6(outer: Cidr6, inner: Cidr6): boolean {
  return inner.prefixLen >= outer.prefixLen && contains6(outer, inner.base);
}

/** The 16 bytes of `value` in network order, written into `b`; returns `b`. */
function writeIpv6(b: Buffer, value: bigint): Buffer {
  b.writeBigUInt64BE(value >> 64n, 0);
  b.writeBigUInt64BE(value & 0xffffffffffffffffn, 8);
  return b;
}

export function ipv6Bytes(value: bigint): Buffer {
  return writeIpv6(Buffer.alloc(16), value);
}

export function ipv6FromBytes(b: Buffer, offset = 0): bigint {
  return (b.readBigUInt64BE(offset) << 64n) | b.readBigUInt64BE(offset + 8);
}

/** fe80::/10: where routers advertise from, and the only kind of gateway an RA-learned route has. */
export const LINK_LOCAL_6: Cidr6 = { base: 0xfe80n << 112n, prefixLen: 10 };

/** An address ("ADDR" or "ADDR/LEN") in fe80::/10; false for anything that is not IPv6. */
export function isLinkLocal6(text: string): boolean {
  const value = parseIpv6(text.split('/')[0] as string);
  return value !== undefined && contains6(LINK_LOCAL_6, value);
}

/** Unicast addresses an ENI can be given: not unspecified, loopback, multicast (ff00::/8) or link-local. */
export function isGlobalUnicast6(value: bigint): boolean {
  return value > 1n && value >> 120n !== 0xffn && !contains6(LINK_LOCAL_6, value);
}
