/**
 * The ENI metadata the planner consumes, and the pure function that validates IMDS bodies into it.
 */
import { Ec2netError } from '../errors.js';
import { LINK_LOCAL_4, contains, covers, formatCidr4, formatIpv4, parseCidr4, type Cidr4 } from './ipv4.js';
import { covers6, formatCidr6, formatIpv6, contains6, isGlobalUnicast6, parseCidr6, parseIpv6, type Cidr6 } from './ipv6.js';
import { parseEniId, parseIpv4Address, parseIpv4Network, parseMac, parseSmallIndex, splitLines } from './validate.js';

/** device-number and network-card stay below 100 so that 10000 + 100 × card + device never collides. */
export const MAX_DEVICE_NUMBER = 99;
export const MAX_NETWORK_CARD = 99;
/** EC2 delegates IPv4 prefixes as /28; anything wider is refused rather than expanded. */
export const MIN_IPV4_PREFIX_LEN = 28;
/** EC2 delegates IPv6 prefixes as /80; a subnet block is at least a /64. Nothing wider than the subnet's /64. */
export const MIN_IPV6_PREFIX_LEN = 64;
/** Above the seed table's 50 IPv6 addresses per ENI with room to spare; a longer list is refused, not truncated. */
export const MAX_LIST_ENTRIES = 256;

export interface EniMetadata {
  readonly mac: string;
  readonly eniId: string;
  readonly deviceNumber: number;
  readonly networkCard: number;
  /** Primary first, canonical dotted quads; none for an IPv6-only network interface. */
  readonly localIpv4s: readonly string[];
  /** Absent in an IPv6-only subnet, whose ENI holds no IPv4 address or a single 169.254.x.x one. */
  readonly subnet?: Cidr4;
  readonly ipv4Prefixes: readonly Cidr4[];
  /** Canonical (RFC 5952) IPv6 addresses, in IMDS order. */
  readonly ipv6s: readonly string[];
  readonly ipv6Prefixes: readonly Cidr6[];
  readonly subnetIpv6: readonly Cidr6[];
  /** The instance's primary ENI: the top-level `mac`. */
  readonly isPrimary: boolean;
  /** The primary ENI's MAC (the top-level `mac`). */
  readonly primaryMac: string;
}

/** The raw bodies of the per-ENI keys; undefined where IMDS answered 404. */
export interface RawEni {
  readonly mac: string;
  readonly topLevelMac: string;
  readonly deviceNumber: string;
  readonly networkCard: string | undefined;
  readonly interfaceId: string;
  /** undefined: 404, as for an IPv6-only network interface. */
  readonly localIpv4s: string | undefined;
  readonly subnetIpv4CidrBlock: string | undefined;
  readonly ipv4Prefix: string | undefined;
  readonly ipv6s?: string | undefined;
  readonly ipv6Prefix?: string | undefined;
  readonly subnetIpv6CidrBlocks?: string | undefined;
}

function invalid(key: string, mac: string, why: string): Ec2netError {
  return new Ec2netError('InvalidMetadata', `IMDS value refused: ${why}`, { key, mac });
}

/** One value per line; absent (404) is an empty list. */
function listOf(body: string | undefined, key: string, mac: string): string[] {
  const lines = body === undefined ? [] : splitLines(body);
  if (lines.length > MAX_LIST_ENTRIES) throw invalid(key, mac, `more than ${MAX_LIST_ENTRIES} entries`);
  return lines;
}

function sanitize(body: string): string {
  return JSON.stringify(body.length > 64 ? `${body.slice(0, 64)}…` : body);
}

/**
 * Why a block was refused: an address and length whose host bits are set (`10.0.2.65/28`, which the strict parse
 * refuses; `loose` parses it), or `otherwise`.
 */
function blockProblem(line: string, loose: (text: string, strictNetwork: boolean) => unknown, otherwise: string): string {
  return loose(line, false) !== undefined ? `host bits set in ${sanitize(line)}` : `${otherwise}: ${sanitize(line)}`;
}

/**
 * Validates raw IMDS bodies. Throws InvalidMetadata naming the key; never returns a partially valid record.
 */
export function parseEniMetadata(raw: RawEni): EniMetadata {
  const mac = parseMac(raw.mac);
  if (!mac) throw invalid('mac', sanitize(raw.mac), `not a MAC address: ${sanitize(raw.mac)}`);
  const topLevelMac = parseMac(raw.topLevelMac);
  if (!topLevelMac) throw invalid('mac (top level)', mac, `not a MAC address: ${sanitize(raw.topLevelMac)}`);

  const deviceNumber = parseSmallIndex(raw.deviceNumber, MAX_DEVICE_NUMBER);
  if (deviceNumber === undefined) {
    throw invalid('device-number', mac, `not an integer in 0..${MAX_DEVICE_NUMBER}: ${sanitize(raw.deviceNumber)}`);
  }
  let networkCard = 0;
  if (raw.networkCard !== undefined) {
    const card = parseSmallIndex(raw.networkCard, MAX_NETWORK_CARD);
    if (card === undefined) {
      throw invalid('network-card', mac, `not an integer in 0..${MAX_NETWORK_CARD}: ${sanitize(raw.networkCard)}`);
    }
    networkCard = card;
  }
  const eniId = parseEniId(raw.interfaceId);
  if (!eniId) throw invalid('interface-id', mac, `not an ENI id: ${sanitize(raw.interfaceId)}`);

  const lines = listOf(raw.localIpv4s, 'local-ipv4s', mac);
  // An IPv6-only network interface has no local-ipv4s (404) and no IPv4 subnet block, or (as captured earlier) one
  // address from 169.254.0.0/16.
  const noIpv4 = raw.localIpv4s === undefined;
  if (lines.length === 0 && !noIpv4) throw invalid('local-ipv4s', mac, 'empty list');
  if (noIpv4 && raw.subnetIpv4CidrBlock !== undefined) throw invalid('local-ipv4s', mac, 'not set, but the ENI has an IPv4 subnet block');
  const onlyLinkLocal = noIpv4 || (lines.length === 1 && contains(LINK_LOCAL_4, parseIpv4Address(lines[0] as string) ?? 0));
  let subnet: Cidr4 | undefined;
  if (raw.subnetIpv4CidrBlock !== undefined || !onlyLinkLocal) {
    const text = raw.subnetIpv4CidrBlock ?? '';
    subnet = parseIpv4Network(text);
    if (!subnet) throw invalid('subnet-ipv4-cidr-block', mac, blockProblem(text, parseCidr4, 'not a VPC subnet (/16../28)'));
    if (subnet.prefixLen > 28 || subnet.prefixLen < 16) throw invalid('subnet-ipv4-cidr-block', mac, `not a VPC subnet (/16../28): ${sanitize(text)}`);
  }

  const localIpv4s: string[] = [];
  for (const line of lines) {
    const ip = parseIpv4Address(line);
    if (ip === undefined) throw invalid('local-ipv4s', mac, `not an IPv4 address: ${sanitize(line)}`);
    if (!onlyLinkLocal && !contains(subnet as Cidr4, ip)) {
      throw invalid('local-ipv4s', mac, `${formatIpv4(ip)} is outside the subnet ${formatCidr4(subnet as Cidr4)}`);
    }
    const text = formatIpv4(ip);
    if (localIpv4s.includes(text)) throw invalid('local-ipv4s', mac, `duplicate entry ${text}`);
    localIpv4s.push(text);
  }

  const ipv4Prefixes: Cidr4[] = [];
  for (const line of listOf(raw.ipv4Prefix, 'ipv4-prefix', mac)) {
    const prefix = parseIpv4Network(line);
    if (!prefix) throw invalid('ipv4-prefix', mac, blockProblem(line, parseCidr4, 'not a CIDR block'));
    if (prefix.prefixLen < MIN_IPV4_PREFIX_LEN) {
      throw invalid('ipv4-prefix', mac, `prefix ${line} is wider than /${MIN_IPV4_PREFIX_LEN}`);
    }
    if (!subnet || !covers(subnet, prefix)) throw invalid('ipv4-prefix', mac, `prefix ${line} is outside the IPv4 subnet`);
    if (ipv4Prefixes.some((p) => p.base === prefix.base && p.prefixLen === prefix.prefixLen)) {
      throw invalid('ipv4-prefix', mac, `duplicate entry ${line}`);
    }
    ipv4Prefixes.push(prefix);
  }

  const subnetIpv6: Cidr6[] = [];
  for (const line of listOf(raw.subnetIpv6CidrBlocks, 'subnet-ipv6-cidr-blocks', mac)) {
    const block = parseCidr6(line);
    if (!block) throw invalid('subnet-ipv6-cidr-blocks', mac, blockProblem(line, parseCidr6, 'not a VPC IPv6 subnet (/44../64)'));
    if (block.prefixLen > 64 || block.prefixLen < 44 || !isGlobalUnicast6(block.base)) {
      throw invalid('subnet-ipv6-cidr-blocks', mac, `not a VPC IPv6 subnet (/44../64): ${sanitize(line)}`);
    }
    if (!subnetIpv6.some((b) => b.base === block.base && b.prefixLen === block.prefixLen)) subnetIpv6.push(block);
  }
  const inSubnet6 = (value: bigint) => subnetIpv6.length === 0 || subnetIpv6.some((b) => contains6(b, value));

  const ipv6s: string[] = [];
  for (const line of listOf(raw.ipv6s, 'ipv6s', mac)) {
    const ip = parseIpv6(line);
    if (ip === undefined || !isGlobalUnicast6(ip)) throw invalid('ipv6s', mac, `not a unicast IPv6 address: ${sanitize(line)}`);
    if (!inSubnet6(ip)) throw invalid('ipv6s', mac, `${formatIpv6(ip)} is outside the subnet's IPv6 blocks`);
    const text = formatIpv6(ip);
    if (ipv6s.includes(text)) throw invalid('ipv6s', mac, `duplicate entry ${text}`);
    ipv6s.push(text);
  }

  const ipv6Prefixes: Cidr6[] = [];
  for (const line of listOf(raw.ipv6Prefix, 'ipv6-prefix', mac)) {
    const prefix = parseCidr6(line);
    if (!prefix) throw invalid('ipv6-prefix', mac, blockProblem(line, parseCidr6, 'not an IPv6 CIDR block'));
    if (!isGlobalUnicast6(prefix.base)) throw invalid('ipv6-prefix', mac, `not a unicast IPv6 block: ${sanitize(line)}`);
    if (prefix.prefixLen < MIN_IPV6_PREFIX_LEN) throw invalid('ipv6-prefix', mac, `prefix ${line} is wider than /${MIN_IPV6_PREFIX_LEN}`);
    if (subnetIpv6.length > 0 && !subnetIpv6.some((b) => covers6(b, prefix))) {
      throw invalid('ipv6-prefix', mac, `prefix ${formatCidr6(prefix)} is outside the subnet's IPv6 blocks`);
    }
    if (ipv6Prefixes.some((p) => p.base === prefix.base && p.prefixLen === prefix.prefixLen)) {
      throw invalid('ipv6-prefix', mac, `duplicate entry ${formatCidr6(prefix)}`);
    }
    ipv6Prefixes.push(prefix);
  }

  return {
    mac,
    eniId,
    deviceNumber,
    networkCard,
    localIpv4s,
    ...(subnet ? { subnet } : {}),
    ipv4Prefixes,
    ipv6s,
    ipv6Prefixes,
    subnetIpv6,
    isPrimary: mac === topLevelMac,
    primaryMac: topLevelMac,
  };
}
