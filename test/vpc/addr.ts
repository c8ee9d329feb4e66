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
