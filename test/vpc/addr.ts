export interface Ipv4Cidr {
  readonly network: number;
  readonly prefixLen: number;
}

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255)) {
    throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}

/** Parses `A.B.C.D/N`; host bits must be zero. */
export function parseCidr(text: string): Ipv4Cidr {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  const prefixLen = Number(match?.[2]);
  if (!match?.[1] || prefixLen > 32) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(text)}`);
  const network = parseIpv4(match[1]);
  if (network % 2 ** (32 - prefixLen) !== 0) throw new Error(`CIDR has host bits set: ${text}`);
  return { network, prefixLen };
}

export function contains(cidr: Ipv4Cidr, ip: string): boolean {
  const size = 2 ** (32 - cidr.prefixLen);
  const value = parseIpv4(ip);
  return value >= cidr.network && value < cidr.network + size;
}

export function netmask(prefixLen: number): string {
  return formatIpv4(2 ** 32 - 2 ** (32 - prefixLen));
}

/** The VPC router of a subnet is its base address + 1. */
export function subnetRouter(cidr: Ipv4Cidr): string {
  return formatIpv4(cidr.network + 1);
}

export interface Ipv6Cidr {
  readonly network: bigint;
  readonly prefixLen: number;
}

const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

function hexGroups(text: string): string[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  return parts.every((p) => HEX_GROUP.test(p)) ? parts : undefined;
}

/** Eight groups of 1–4 hex digits with at most one `::`; no zone index, no dotted quad. */
export function parseIpv6(text: string): bigint {
  const gap = text.indexOf('::');
  let parts: string[] | undefined;
  if (gap < 0) {
    parts = hexGroups(text);
    if (parts?.length !== 8) parts = undefined;
  } else if (text.indexOf('::', gap + 1) < 0) {
    const head = hexGroups(text.slice(0, gap));
    const tail = hexGroups(text.slice(gap + 2));
    if (head && tail && head.length + tail.length <= 7) parts = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  }
  if (!parts) throw new Error(`not an IPv6 address: ${JSON.stringify(text)}`);
  return parts.reduce((acc, p) => (acc << 16n) | BigInt(parseInt(p, 16)), 0n);
}

/** RFC 5952 text: lower case, the longest run (first of equals) of two or more zero groups as `::`. */
export function formatIpv6(value: bigint): string {
  const g = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { start: -1, len: 1 };
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best.len) best = { start: i, len: j - i };
    i = j;
  }
  const hex = (part: number[]): string => part.map((x) => x.toString(16)).join(':');
  if (best.start < 0) return hex(g);
  return `${hex(g.slice(0, best.start))}::${hex(g.slice(best.start + best.len))}`;
}

export function isIpv6(text: string): boolean {
  try {
    parseIpv6(text);
    return true;
  } catch {
    return false;
  }
}

/** Parses `ADDR/N`; host bits must be zero. */
export function parseCidr6(text: string): Ipv6Cidr {
  const match = /^([0-9a-fA-F:]+)\/([0-9]{1,3})$/.exec(text);
  const prefixLen = Number(match?.[2]);
  if (!match?.[1] || prefixLen > 128) throw new Error(`not an IPv6 CIDR: ${JSON.stringify(text)}`);
  const network = parseIpv6(match[1]);
  if (network % (1n << BigInt(128 - prefixLen)) !== 0n) throw new Error(`CIDR has host bits set: ${text}`);
  return { network, prefixLen };
}

export function contains6(cidr: Ipv6Cidr, ip: string): boolean {
  const value = parseIpv6(ip);
  return value >= cidr.network && value < cidr.network + (1n << BigInt(128 - cidr.prefixLen));
}

/** True when `inner` lies wholly inside `outer`. */
export function covers6(outer: Ipv6Cidr, inner: Ipv6Cidr): boolean {
  return inner.prefixLen >= outer.prefixLen && contains6(outer, formatIpv6(inner.network));
}

/** `SUBNET::1`: the address the VPC router holds in an IPv6 subnet. */
export function subnetRouter6(cidr: Ipv6Cidr): string {
  return formatIpv6(cidr.network + 1n);
}

/** The kernel's default (EUI-64) link-local address of an interface with this MAC. */
export function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  if (b.length !== 6 || b.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad MAC ${mac}`);
  const [b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0] = b;
  // the universal/local bit is inverted (RFC 4291 appendix A)
  const iid = [((b0 ^ 0x02) << 8) | b1, (b2 << 8) | 0xff, 0xfe00 | b3, (b4 << 8) | b5];
  return formatIpv6(iid.reduce((acc, g) => (acc << 16n) | BigInt(g), 0xfe80n << 48n));
}
