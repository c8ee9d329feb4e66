/**
 * The NetworkManager backend's files: one keyfile connection profile per ENI under
 * /run/NetworkManager/system-connections (runtime: gone at reboot, rebuilt by the boot-time ec2ifscan), matched by
 * MAC (nm-settings-keyfile(5); `[ethernet] mac-address`). Every value has been validated before it gets here.
 *
 * What the profile holds and what it does not, as NetworkManager 1.42 (Debian 12) behaved in the simulated VPC
 * (test/net/nm.test.ts pins it):
 * - DHCPv4, router advertisements with DHCPv6, the DHCP MTU (applied by NetworkManager's internal client), and the
 *   main-table metric of the routes DHCP and RA install (`route-metric`), behind the primary's.
 * - The secondary addresses. `nmcli device reapply` deletes addresses on the device that its profile does not
 *   list (and main-table routes on it that NetworkManager did not add); in the profile they survive a reapply, a
 *   re-activation and a restart of NetworkManager.
 * - No `route-table`: it moves DHCP's and RA's routes out of the main table into the ENI's table (where ec2net keeps
 *   its own, stamped with its protocol). No `routing-rules`: NetworkManager installs them as `proto static`, so
 *   they would not be ec2net's. ec2net installs the table's routes and the source rules itself; NetworkManager left both, and
 *   every other tool's rules and table routes, alone through reapply, profile load and restart. A re-activation
 *   takes the device's addresses away for a moment, and the kernel drops every route through it (any table): the
 *   daemon puts ec2net's back (drift repair).
 */
import type { Address } from '../model/state.js';
import { linesOf, type FileSpec } from './files.js';

export interface NmPaths {
  /** …/run/NetworkManager/system-connections */
  readonly runConnections: string;
}

export interface NmInput {
  readonly ifname: string;
  readonly mac: string;
  readonly eniId: string;
  /** Main-table metric of the ENI's DHCP and RA routes; undefined: no main-table default (MAIN_ROUTE_TABLE=no). */
  readonly mainMetric?: number;
  /** False on an IPv6-only subnet: no DHCPv4. */
  readonly dhcp4: boolean;
  /** The ENI has IPv6 addresses: router advertisements and DHCPv6. */
  readonly ipv6: boolean;
  readonly addresses: readonly Address[];
}

/**
 * Above NetworkManager's default (0) and the "Wired connection N" it makes for a new device when `no-auto-default`
 * does not forbid it: when both could take the device (a restart, a re-activation), ours is chosen.
 */
export const NM_AUTOCONNECT_PRIORITY = 100;

/** `ipv4.dhcp-timeout` infinity (nm-settings-nmcli(5)): EC2's DHCP answers; NetworkManager never gives the ENI up. */
const DHCP_TIMEOUT_INFINITY = 2147483647;

const HEADER_START = '# Written by ec2net for ';

/** A profile this agent wrote for the ENI with this MAC: the proof that removing it takes nothing of anyone else's. */
export function isOurNmProfile(content: string, mac: string): boolean {
  return content.startsWith(HEADER_START) && content.slice(0, content.indexOf('\n')).includes(`(${mac})`);
}

/** The profile's UUID, fixed by the MAC: a rewrite (a new address, a new name) updates the same profile. */
export function nmUuid(mac: string): string {
  return `ec2e7000-0000-4000-8000-${mac.replace(/:/g, '')}`;
}

/** The profile's path, named by MAC like its UUID (an interface renamed keeps its profile). */
export function nmProfilePath(paths: NmPaths, mac: string): string {
  return `${paths.runConnections}/ec2net-${mac.replace(/:/g, '')}.nmconnection`;
}

function section(name: string, entries: readonly (string | false | undefined)[]): string[] {
  return ['', `[${name}]`, ...entries.filter((e): e is string => typeof e === 'string')];
}

function addressEntries(addresses: readonly Address[], family: 4 | 6): string[] {
  return addresses.filter((a) => a.family === family).map((a, i) => `address${i + 1}=${a.address}`);
}

export function renderNm(paths: NmPaths, input: NmInput): FileSpec[] {
  const metric = input.mainMetric;
  const routing = (family: 4 | 6) => [
    'ignore-auto-dns=true',
    metric === undefined ? 'never-default=true' : `route-metric=${metric}`,
    ...addressEntries(input.addresses, family),
  ];
  const lines = [
    `${HEADER_START}${input.eniId} (${input.mac}) and rewritten on every run; settings: /etc/ec2net/ec2net.conf`,
    ...section('connection', [`id=ec2net ${input.ifname}`, `uuid=${nmUuid(input.mac)}`, 'type=ethernet', `autoconnect-priority=${NM_AUTOCONNECT_PRIORITY}`]),
    ...section('ethernet', [`mac-address=${input.mac}`]),
    ...section('ipv4', input.dhcp4 ? ['method=auto', 'dhcp-client-id=mac', `dhcp-timeout=${DHCP_TIMEOUT_INFINITY}`, ...routing(4)] : ['method=disabled']),
    ...section('ipv6', input.ipv6 ? ['method=auto', ...routing(6)] : ['method=ignore']),
  ];
  // The keyfile plugin ignores a profile that group or others can read (nm-settings-keyfile(5)).
  return [{ path: nmProfilePath(paths, input.mac), content: linesOf(lines), mode: 0o600 }];
}

/**
 * Whether a profile or ifcfg file (someone else's) selects this interface: a keyfile by `mac-address=` or
 * `interface-name=`, an ifcfg file (RHEL 8's ifcfg-rh plugin) by `HWADDR=` or `DEVICE=`. Pure text matching, as
 * NetworkManager reads them: case-insensitive MACs, optional quotes in ifcfg values.
 */
export function selectsInterface(content: string, link: { readonly ifname: string; readonly mac: string }): boolean {
  for (const raw of content.split('\n')) {
    const m = /^\s*(mac-address|interface-name|HWADDR|DEVICE)\s*=\s*"?([^"\s]*)"?\s*$/.exec(raw);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if ((key === 'mac-address' || key === 'HWADDR') && value.toLowerCase() === link.mac) return true;
    if ((key === 'interface-name' || key === 'DEVICE') && value === link.ifname) return true;
  }
  return false;
}
