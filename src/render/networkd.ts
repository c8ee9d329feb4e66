/**
 * The networkd backend's files: one .network unit per ENI under /run/systemd/network (regenerated at every boot
 * by ec2ifscan), matched by MAC. Every value in it has been validated before it gets here (MACs by parseMac,
 * addresses by the IPv4 and IPv6 parsers, the IPv6 router by the kernel's binary form).
 *
 * When another generator (netplan, cloud-init) has a .network file for the same interface that networkd picks
 * first, a unit of our own would never be read: networkd uses only the first matching file. Then the same
 * settings go into a drop-in beside that file, which networkd merges into it.
 *
 * Source rules are not in the unit. networkd 252 gives a [RoutingPolicyRule] its own protocol (static; the
 * section has no Protocol=), and keeps such rules after the link is gone, where nothing can tell them from
 * another tool's: the agent installs the rules itself, stamped with its protocol, as in every backend (the
 * boot-time ec2ifscan puts them in place). The table routes are in the unit, with Protocol= set to the agent's.
 */
import type { Address, Route } from '../model/state.js';
import { linesOf, type FileSpec } from './files.js';

export interface NetworkdPaths {
  /** …/run/systemd/network */
  readonly runNetwork: string;
}

export interface NetworkdInput {
  readonly ifname: string;
  readonly mac: string;
  readonly eniId: string;
  /** Main-table metric of the ENI's DHCP and RA default routes; undefined: no main-table default (MAIN_ROUTE_TABLE=no). */
  readonly mainMetric?: number;
  /** False on an IPv6-only subnet: DHCPv6 only. */
  readonly dhcp4: boolean;
  readonly addresses: readonly Address[];
  /** The ENI's own table's routes. */
  readonly routes: readonly Route[];
  /**
   * The name of another generator's .network file that networkd picks first for this interface and for it alone:
   * the settings go in a drop-in beside it.
   */
  readonly shadowedBy?: string;
  /**
   * The name of a catch-all .network file (one that selects other interfaces too) that networkd would pick first:
   * the unit is named to sort just before it, since a drop-in of a catch-all would apply to every interface it
   * selects, the primary's included.
   */
  readonly sortBefore?: string;
}

const HEADER_START = '# Written by ec2net for ';

/** A unit or drop-in this agent wrote for the ENI with this MAC: the proof that removing it takes nothing of anyone else's. */
export function isOurNetworkdFile(content: string, mac: string): boolean {
  return content.startsWith(HEADER_START) && content.slice(0, content.indexOf('\n')).includes(`(${mac})`);
}

/**
 * The unit's path: 70-ec2net-IF.network, or STEM-ec2net-IF.network to sort before the catch-all STEM.network
 * (`-` sorts before `.`). The catch-all is the first file that selects the link, so none sorts before ours either.
 */
export function networkdUnitPath(paths: NetworkdPaths, ifname: string, sortBefore?: string): string {
  const stem = sortBefore === undefined ? '70' : sortBefore.slice(0, -'.network'.length);
  return `${paths.runNetwork}/${stem}-ec2net-${ifname}.network`;
}

export function networkdDropinPath(paths: NetworkdPaths, shadowedBy: string): string {
  return `${paths.runNetwork}/${shadowedBy}.d/70-ec2net.conf`;
}

function section(name: string, entries: readonly (string | false | undefined)[]): string[] {
  return ['', `[${name}]`, ...entries.filter((e): e is string => typeof e === 'string')];
}

function routeSection(r: Route): string[] {
  return section('Route', [
    r.dst === '0.0.0.0/0' || r.dst === '::/0' ? undefined : `Destination=${r.dst}`,
    r.gateway && `Gateway=${r.gateway}`,
    // networkd installs the unit's routes while DHCP renews after a reload, before the subnet is connected again;
    // the VPC router is on the link whatever the kernel's other routes say.
    r.gateway && r.family === 4 && 'GatewayOnLink=yes',
    r.prefsrc && `PreferredSource=${r.prefsrc}`,
    r.scope === 'link' && 'Scope=link',
    r.metric > 0 && r.family === 4 ? `Metric=${r.metric}` : undefined,
    `Table=${r.table}`,
    `Protocol=${r.protocol}`,
  ]);
}

export function renderNetworkd(paths: NetworkdPaths, input: NetworkdInput): FileSpec[] {
  const metric = input.mainMetric;
  const body = [
    ...section('Network', [
      `DHCP=${input.dhcp4 ? 'yes' : 'ipv6'}`,
      'IPv6AcceptRA=yes',
      // A reload that reconfigures the link keeps the static addresses, so the kernel does not flush the table's
      // routes with the last IPv4 address while DHCP renews.
      'KeepConfiguration=static',
      // The primary ENI's interface carries the instance's DNS and hostname.
      'LLMNR=no',
      'MulticastDNS=no',
    ]),
    ...section('DHCPv4', [
      'UseMTU=yes',
      'UseDNS=no',
      'UseHostname=no',
      metric === undefined ? 'UseGateway=no' : `RouteMetric=${metric}`,
    ]),
    ...section('DHCPv6', ['UseDNS=no', 'UseHostname=no']),
    ...section('IPv6AcceptRA', ['UseDNS=no', metric === undefined ? 'UseGateway=no' : `RouteMetric=${metric}`]),
    // EC2 hands out each address once: DAD would only hold an IPv6 address tentative (unusable) for a second.
    ...input.addresses.flatMap((a) => section('Address', [`Address=${a.address}`, a.family === 6 && 'DuplicateAddressDetection=none'])),
    ...input.routes.flatMap(routeSection),
  ];
  const header = `${HEADER_START}${input.eniId} (${input.mac}) and rewritten on every run; settings: /etc/ec2net/ec2net.conf`;
  if (input.shadowedBy) {
    // A drop-in of the file networkd picks: that file's [Match] already selects the interface.
    return [{ path: networkdDropinPath(paths, input.shadowedBy), content: linesOf([header, ...body]), mode: 0o644 }];
  }
  const unit = [header, ...section('Match', [`MACAddress=${input.mac}`]), ...section('Link', ['RequiredForOnline=no']), ...body];
  return [{ path: networkdUnitPath(paths, input.ifname, input.sortBefore), content: linesOf(unit), mode: 0o644 }];
}

/** A .network file networkd would read, with where it was found; earlier directories mask later ones. */
export interface NetworkFile {
  readonly name: string;
  readonly content: string;
}

export interface LinkFacts {
  readonly ifname: string;
  readonly mac: string;
}

/** `Name=` globs: `*`, `?` and `[...]`, as fnmatch(3) reads them; a leading `!` inverts the whole list. */
function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  try {
    return new RegExp(`^${re}$`).test(name);
  } catch {
    return false;
  }
}

function listMatches(value: string, test: (item: string) => boolean): boolean {
  const invert = value.startsWith('!');
  const items = (invert ? value.slice(1) : value).split(/\s+/).filter((x) => x !== '');
  const hit = items.some(test);
  return invert ? !hit : hit;
}

/** The KEY=value entries of a .network file's [Match] sections (comments, blanks and empty values left out). */
function matchEntries(content: string): { key: string; value: string }[] {
  const entries: { key: string; value: string }[] = [];
  let inMatch = false;
  for (const raw of content.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) {
      inMatch = line === '[Match]';
      continue;
    }
    if (!inMatch || line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const value = line.slice(eq + 1).trim();
    if (value !== '') entries.push({ key: line.slice(0, eq).trim(), value });
  }
  return entries;
}

/**
 * Whether a .network file's [Match] section selects this link. Conditions ec2net cannot evaluate from here
 * (Driver=, Path=, Property=, …) count as matching: assuming the file would be read first errs on the side of our
 * unit sorting before it (a drop-in where the file selects this link alone), which applies either way.
 */
export function matchesLink(content: string, link: LinkFacts): boolean {
  let result = true;
  for (const { key, value } of matchEntries(content)) {
    if (key === 'Name') result &&= listMatches(value, (p) => globMatch(p, link.ifname));
    else if (key === 'MACAddress' || key === 'PermanentMACAddress') result &&= listMatches(value, (m) => m.toLowerCase() === link.mac);
    else if (key === 'Type') result &&= listMatches(value, (t) => t === 'ether');
  }
  return result;
}

/**
 * Whether a .network file's [Match] selects this one link and no other: by its MAC alone, or by its exact name
 * (no glob, no inversion). A drop-in of such a file applies to this link only.
 */
export function selectsOnly(content: string, link: LinkFacts): boolean {
  const only = matchEntries(content).some(({ key, value }) => {
    const items = value.split(/\s+/);
    const item = items[0] as string;
    if (items.length !== 1 || item.startsWith('!')) return false;
    if (key === 'MACAddress' || key === 'PermanentMACAddress') return item.toLowerCase() === link.mac;
    return key === 'Name' && item === link.ifname && !/[*?[]/.test(item);
  });
  return only && matchesLink(content, link);
}

/**
 * The file networkd would pick for the link among `files` (already de-duplicated by name across directories,
 * /etc over /run over /usr/lib) that networkd reads before our unit: the first in lexical order whose [Match]
 * selects the link.
 */
export function activeNetworkFile(files: readonly NetworkFile[], link: LinkFacts, ourName: string): string | undefined {
  const sorted = files.filter((f) => f.name.endsWith('.network')).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sorted.find((f) => f.name < ourName && matchesLink(f.content, link))?.name;
}
