/**
 * The ENI metadata the planner consumes, and the pure function that validates IMDS bodies into it.
 */
import { Ec2netError } from '../errors.js';
import { LINK_LOCAL_4, contains, covers, formatCidr4, formatIpv4, type Cidr4 } from './ipv4.js';
import { parseEniId, parseIpv4Address, parseIpv4Network, parseMac, parseSmallIndex, splitLines } from './validate.js';

/** device-number and network-card stay below 100 so that 10000 + 100 × card + device never collides. */
export const MAX_DEVICE_NUMBER = 99;
export const MAX_NETWORK_CARD = 99;
/** EC2 delegates IPv4 prefixes as /28; anything wider is refused rather than expanded. */
export const MIN_IPV4_PREFIX_LEN = 28;

export interface EniMetadata {
  readonly mac: string;
  readonly eniId: string;
  readonly deviceNumber: number;
  readonly networkCard: number;
  /** Primary first, canonical dotted quads. */
  readonly localIpv4s: readonly string[];
  readonly subnet: Cidr4;
  readonly ipv4Prefixes: readonly Cidr4[];
  /** The instance's primary ENI: the top-level `mac`. */
  readonly isPrimary: boolean;
}

/** The raw bodies of the per-ENI keys; undefined where IMDS answered 404. */
export interface RawEni {
  readonly mac: string;
  readonly topLevelMac: string;
  readonly deviceNumber: string;
  readonly networkCard: string | undefined;
  readonly interfaceId: string;
  readonly localIpv4s: string;
  readonly subnetIpv4CidrBlock: string;
  readonly ipv4Prefix: string | undefined;
}

function invalid(key: string, mac: string, why: string): Ec2netError {
  return new Ec2netError('InvalidMetadata', `IMDS value refused: ${why}`, { key, mac });
}

function sanitize(body: string): string {
  return JSON.stringify(body.length > 64 ? `${body.slice(0, 64)}…` : body);
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

  const subnet = parseIpv4Network(raw.subnetIpv4CidrBlock);
  if (!subnet || subnet.prefixLen > 28 || subnet.prefixLen < 16) {
    throw invalid('subnet-ipv4-cidr-block', mac, `not a VPC subnet (/16../28): ${sanitize(raw.subnetIpv4CidrBlock)}`);
  }

  const localIpv4s: string[] = [];
  const lines = splitLines(raw.localIpv4s);
  if (lines.length === 0) throw invalid('local-ipv4s', mac, 'empty list');
  for (const line of lines) {
    const ip = parseIpv4Address(line);
    if (ip === undefined) throw invalid('local-ipv4s', mac, `not an IPv4 address: ${sanitize(line)}`);
    // IPv6-only subnets answer with one address from 169.254.0.0/16, outside the subnet block.
    if (!contains(subnet, ip) && !(contains(LINK_LOCAL_4, ip) && lines.length === 1)) {
      throw invalid('local-ipv4s', mac, `${formatIpv4(ip)} is outside the subnet ${formatCidr4(subnet)}`);
    }
    const text = formatIpv4(ip);
    if (localIpv4s.includes(text)) throw invalid('local-ipv4s', mac, `duplicate entry ${text}`);
    localIpv4s.push(text);
  }

  const ipv4Prefixes: Cidr4[] = [];
  for (const line of raw.ipv4Prefix === undefined ? [] : splitLines(raw.ipv4Prefix)) {
    const prefix = parseIpv4Network(line);
    if (!prefix) throw invalid('ipv4-prefix', mac, `not a CIDR block: ${sanitize(line)}`);
    if (prefix.prefixLen < MIN_IPV4_PREFIX_LEN) {
      throw invalid('ipv4-prefix', mac, `prefix ${line} is wider than /${MIN_IPV4_PREFIX_LEN}`);
    }
    if (!covers(subnet, prefix)) throw invalid('ipv4-prefix', mac, `prefix ${line} is outside the subnet ${formatCidr4(subnet)}`);
    if (ipv4Prefixes.some((p) => p.base === prefix.base && p.prefixLen === prefix.prefixLen)) {
      throw invalid('ipv4-prefix', mac, `duplicate entry ${line}`);
    }
    ipv4Prefixes.push(prefix);
  }

  return { mac, eniId, deviceNumber, networkCard, localIpv4s, subnet, ipv4Prefixes, isPrimary: mac === topLevelMac };
}
