/**
 * The ifcfg backend's files, byte for byte as ec2-net-utils v1 wrote them (DESIGN.md, "Backends"). These files
 * are sourced by initscripts' shell scripts, so every value in them has been validated before it gets here:
 * interface names by parseIfname, MACs by parseMac, addresses by the IPv4 and IPv6 parsers (the IPv6 router by the kernel's own binary form), flags by adminFlags.
 */
import { dottedMask, formatIpv4, subnetRouter, type Cidr4 } from '../model/ipv4.js';
import type { AdminFlags } from './ifcfg-flags.js';
import { linesOf, type FileSpec } from './files.js';

export interface IfcfgPaths {
  /** …/etc/sysconfig/network-scripts */
  readonly networkScripts: string;
  /** …/etc/dhcp */
  readonly dhcp: string;
}

export interface IfcfgInput {
  readonly ifname: string;
  readonly mac: string;
  readonly table: number;
  readonly mainMetric: number;
  /** Absent on IPv6-only subnets: no IPv4 routes to write. */
  readonly subnet?: Cidr4;
  /** Absent for an IPv6-only network interface. */
  readonly primaryIpv4?: string;
  readonly flags: AdminFlags;
  /** The IPv6 router's link-local address, once router advertisements have named it. */
  readonly ipv6Router?: string;
}

export function ifcfgPath(paths: IfcfgPaths, ifname: string): string {
  return `${paths.networkScripts}/ifcfg-${ifname}`;
}

export function renderIfcfg(paths: IfcfgPaths, input: IfcfgInput): FileSpec[] {
  const { ifname, table } = input;
  const ifcfg = [
    `DEVICE=${ifname}`,
    'BOOTPROTO=dhcp',
    'ONBOOT=yes',
    'TYPE=Ethernet',
    'USERCTL=yes',
    'PEERDNS=no',
    'IPV6INIT=yes',
    'DHCPV6C=yes',
    'DHCPV6C_OPTIONS=-nw',
    'PERSISTENT_DHCLIENT=yes',
    `HWADDR=${input.mac}`,
    'DEFROUTE=no',
    'EC2SYNC=yes',
    `EC2PROVISIONPFXIPS=${input.flags.provisionPrefixIpsValue}`,
    `MAINROUTETABLE=${input.flags.mainRouteTable ? 'yes' : 'no'}`,
  ];
  const files: FileSpec[] = [{ path: ifcfgPath(paths, ifname), content: linesOf(ifcfg), mode: 0o644 }];
  if (input.subnet && input.primaryIpv4 !== undefined) {
    const gateway = formatIpv4(subnetRouter(input.subnet));
    const network = `${formatIpv4(input.subnet.base)}/${dottedMask(input.subnet.prefixLen)}`;
    const route = [
      `default via ${gateway} dev ${ifname} table ${table}`,
      `${network} dev ${ifname} proto kernel scope link src ${input.primaryIpv4} table ${table}`,
    ];
    if (input.flags.mainRouteTable) route.push(`default via ${gateway} dev ${ifname} metric ${input.mainMetric}`);
    files.push({ path: `${paths.networkScripts}/route-${ifname}`, content: linesOf(route), mode: 0o644 });
  }
  if (input.ipv6Router) {
    const route6 = [`default via ${input.ipv6Router} dev ${ifname} table ${table}`];
    files.push({ path: `${paths.networkScripts}/route6-${ifname}`, content: linesOf(route6), mode: 0o644 });
  }
  files.push({ path: `${paths.dhcp}/dhclient-${ifname}.conf`, content: renderDhclientConf(true), mode: 0o644 });
  return files;
}

/**
 * dhclient-IF.conf. initscripts' dhclient gets the broadcast server identifier, as ec2-net-utils wrote it, so
 * that renewals are broadcast. When ec2net runs dhclient itself it leaves the identifier alone: an RFC 2131
 * server (dnsmasq among them) refuses a REQUEST naming 255.255.255.255 as its server, and EC2's own server
 * serves unicast renewals, as stock dhclient on Debian and Ubuntu AMIs shows.
 */
export function renderDhclientConf(broadcastServerId: boolean): string {
  return linesOf([...(broadcastServerId ? ['supersede dhcp-server-identifier 255.255.255.255;'] : []), 'timeout 300;']);
}
