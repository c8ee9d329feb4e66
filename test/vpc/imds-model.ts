/** Pure model of the instance metadata service: state → tree → answers. No I/O. */

export interface ImdsEni {
  mac: string;
  interfaceId: string;
  deviceNumber: number;
  networkCard: number;
  subnetId: string;
  /** Absent in an IPv6-only subnet. */
  subnetCidr?: string;
  subnetIpv6Cidr?: string;
  /** Primary first; in an IPv6-only subnet none (local-ipv4s answers 404) or one 169.254.0.0/16 address. */
  ipv4s: string[];
  ipv4Prefixes: string[];
  ipv6s?: string[];
  ipv6Prefixes?: string[];
}

export interface ImdsState {
  instanceId: string;
  multiCard: boolean;
  vpcId: string;
  vpcCidrs: string[];
  enis: ImdsEni[];
}

/** Path relative to /latest/meta-data/ → body, or null for 404. */
export type Overrides = Record<string, string | null>;

export interface Fault {
  status?: number;
  delayMs?: number;
  /** Destroy the socket without answering. */
  reset?: boolean;
  /** Apply to the next N matching requests, then recover; omitted = forever. */
  times?: number;
  /** Apply until this many milliseconds have passed since the fault was set, then recover; omitted = forever. */
  forMs?: number;
}

/** A fault as the emulator holds it: with the time it was set, so `forMs` can run out. */
export interface ArmedFault {
  fault: Fault;
  /** Milliseconds since the epoch. */
  setAt: number;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  /** 0 when the connection was reset without an answer. */
  status: number;
  /** Milliseconds since the epoch, when the answer was sent. */
  time: number;
}

export type Tree = { [name: string]: Tree | string };

export type Answer = { kind: 'leaf'; body: string } | { kind: 'dir'; body: string } | { kind: 'absent' };

export const TOKEN_PATH = '/latest/api/token';
export const META_DATA_PATH = '/latest/meta-data';
export const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
export const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
export const MAX_TTL_SECONDS = 21600;

export function emptyState(): ImdsState {
  return { instanceId: 'i-0123456789abcdef0', multiCard: false, vpcId: 'vpc-0123456789abcdef0', vpcCidrs: [], enis: [] };
}

/** The primary ENI: device-number 0 on network-card 0. */
export function primaryEni(state: ImdsState): ImdsEni | undefined {
  return state.enis.find((e) => e.deviceNumber === 0 && e.networkCard === 0);
}

function eniTree(state: ImdsState, eni: ImdsEni): Tree {
  const tree: Tree = {
    'device-number': String(eni.deviceNumber),
    'interface-id': eni.interfaceId,
  };
  if (eni.ipv4Prefixes.length > 0) tree['ipv4-prefix'] = eni.ipv4Prefixes.join('\n');
  if (eni.ipv6Prefixes?.length) tree['ipv6-prefix'] = eni.ipv6Prefixes.join('\n');
  if (eni.ipv6s?.length) tree['ipv6s'] = eni.ipv6s.join('\n');
  // Not set for an IPv6-only network interface (404), per the instance-metadata categories.
  if (eni.ipv4s.length > 0) tree['local-ipv4s'] = eni.ipv4s.join('\n');
  tree['mac'] = eni.mac.toLowerCase();
  if (state.multiCard) tree['network-card'] = String(eni.networkCard);
  tree['subnet-id'] = eni.subnetId;
  if (eni.subnetCidr !== undefined) tree['subnet-ipv4-cidr-block'] = eni.subnetCidr;
  if (eni.subnetIpv6Cidr !== undefined) tree['subnet-ipv6-cidr-blocks'] = eni.subnetIpv6Cidr;
  tree['vpc-id'] = state.vpcId;
  tree['vpc-ipv4-cidr-block'] = state.vpcCidrs[0] ?? '';
  tree['vpc-ipv4-cidr-blocks'] = state.vpcCidrs.join('\n');
  return tree;
}

export function buildTree(state: ImdsState, overrides: Overrides = {}): Tree {
  const primary = primaryEni(state);
  const primaryIp = primary?.ipv4s[0];
  const tree: Tree = { 'instance-id': state.instanceId };
  if (primaryIp !== undefined) {
    tree['local-hostname'] = `ip-${primaryIp.replaceAll('.', '-')}.ec2.internal`;
    tree['local-ipv4'] = primaryIp;
  }
  if (primary) tree['mac'] = primary.mac.toLowerCase();
  const macs: Tree = {};
  for (const eni of state.enis) macs[eni.mac.toLowerCase()] = eniTree(state, eni);
  tree['network'] = { interfaces: { macs } };
  for (const [path, body] of Object.entries(overrides)) applyOverride(tree, segments(path), body);
  return tree;
}

function segments(path: string): string[] {
  const relative = path.replace(/^\/+/, '').replace(/^latest\/meta-data(\/|$)/, '');
  return relative.split('/').filter((s) => s !== '');
}

function applyOverride(tree: Tree, path: string[], body: string | null): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (rest.length === 0) {
    if (body === null) delete tree[head];
    else tree[head] = body;
    return;
  }
  let child = tree[head];
  if (typeof child !== 'object') {
    if (body === null) return;
    child = {};
    tree[head] = child;
  }
  applyOverride(child, rest, body);
}

/** Directory listings: one child per line, sub-directories with a trailing `/`, no final newline. */
export function lookup(tree: Tree, path: string): Answer {
  let node: Tree | string = tree;
  for (const name of segments(path)) {
    if (typeof node !== 'object') return { kind: 'absent' };
    const child: Tree | string | undefined = node[name];
    if (child === undefined) return { kind: 'absent' };
    node = child;
  }
  if (typeof node === 'string') return { kind: 'leaf', body: node };
  const body = Object.entries(node)
    .map(([name, child]) => (typeof child === 'object' ? `${name}/` : name))
    .join('\n');
  return { kind: 'dir', body };
}

/** The fault for a request path: an exact key, else the longest key ending in `/` that prefixes it. */
export function matchFault(faults: ReadonlyMap<string, unknown>, path: string): string | undefined {
  if (faults.has(path)) return path;
  let best: string | undefined;
  for (const key of faults.keys()) {
    if (key.endsWith('/') && path.startsWith(key) && (best === undefined || key.length > best.length)) best = key;
  }
  return best;
}

/** True once a fault with `forMs` has run its time; `now` in milliseconds since the epoch. */
export function faultExpired(armed: ArmedFault, now: number): boolean {
  return armed.fault.forMs !== undefined && now - armed.setAt >= armed.fault.forMs;
}

/** A valid TTL header is an integer 1..21600 written in decimal digits. */
export function parseTtl(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string' || !/^[0-9]{1,6}$/.test(header)) return undefined;
  const ttl = Number(header);
  return ttl >= 1 && ttl <= MAX_TTL_SECONDS ? ttl : undefined;
}
