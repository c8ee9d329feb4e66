/**
 * IPv4 addresses and CIDR blocks as plain values. Parsing is strict: dotted quad, no leading zeros (which some
 * tools read as octal), no surrounding white space, prefix length 0..32, no host bits set in a network.
 */

export interface Cidr4 {
  /** The address as an unsigned 32-bit integer. */
  readonly base: number;
  readonly prefixLen: number;
}

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

export function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

export function dottedMask(prefixLen: number): string {
  return formatIpv4(maskOf(prefixLen));
}

/** Parses `A.B.C.D/N`. With `strictNetwork`, host bits must be zero (a subnet or prefix, not an interface address). */
export function parseCidr4(text: string, strictNetwork = true): Cidr4 | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const base = parseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (base === undefined || !/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (strictNetwork && ((base & ~maskOf(prefixLen)) >>> 0) !== 0) return undefined;
  return { base, prefixLen };
}

export function formatCidr4(c: Cidr4): string {
  return `${formatIpv4(c.base)}/${c.prefixLen}`;
}

export function contains(net: Cidr4, addr: number): boolean {
  return ((addr & maskOf(net.prefixLen)) >>> 0) === net.base;
}

/** True when `inner` lies wholly inside `outer`. */
export function covers(outer: Cidr4, inner: Cidr4): boolean {
  return inner.prefixLen >= outer.prefixLen && contains(outer, inner.base);
}

/** Every address of a block, in order. Callers bound the size (a delegated IPv4 prefix is a /28). */
export function addressesOf(c: Cidr4): number[] {
  const count = 2 ** (32 - c.prefixLen);
  return Array.from({ length: count }, (_, i) => (c.base + i) >>> 0);
}

/** In a VPC the subnet router is the subnet's base address + 1. */
export function subnetRouter(subnet: Cidr4): number {
  return (subnet.base + 1) >>> 0;
}

/** IPv6-only subnets hand the ENI an address in 169.254.0.0/16; it gets no IPv4 rules. */
export const LINK_LOCAL_4: Cidr4 = { base: parseIpv4('169.254.0.0') as number, prefixLen: 16 };
