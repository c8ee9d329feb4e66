/**
 * The planner: validated metadata + interface facts + the admin's flags → the desired state of one ENI.
 * Pure: no clock, no environment, no I/O.
 */
import type { EniMetadata } from '../model/metadata.js';
import { LINK_LOCAL_4, addressesOf, contains, formatCidr4, formatIpv4, parseIpv4, subnetRouter, type Cidr4 } from '../model/ipv4.js';
import { formatCidr6 } from '../model/ipv6.js';
import { MAIN_TABLE, type Address, type Route, type Rule } from '../model/state.js';
import type { AdminFlags } from '../render/ifcfg-flags.js';
import type { FileSpec } from '../render/files.js';
import { mainMetric, tableId } from './numbering.js';

export interface Settings {
  /** The rtnetlink protocol number stamped on every rule and route the agent creates. */
  readonly protocol: number;
  /**
   * Source rules for the primary ENI. Off by default: containers on a docker0 bridge reach the host's primary
   * address through the main table, and a `from PRIMARY` rule would send their replies elsewhere.
   */
  readonly primaryRules: boolean;
}

/** What a backend's files are made from: the planned state of a secondary ENI. */
export interface EniFiles {
  readonly meta: EniMetadata;
  readonly ifname: string;
  readonly table: number;
  readonly flags: AdminFlags;
  /** Absent on an IPv6-only subnet: nothing is routed over IPv4. */
  readonly subnet?: Cidr4;
  /** The addresses the agent adds itself. */
  readonly addresses: readonly Address[];
  /** The routes of the ENI's own table. */
  readonly routes: readonly Route[];
  /** The IPv6 router, when the ENI has IPv6 source rules and router advertisements have named it. */
  readonly ipv6Router?: string;
  /** The metric of the ENI's main-table routes (see numbering.ts, mainMetric). */
  readonly mainMetric: number;
}

/** How a backend turns a plan into its OS config. Pure, as the planner is. */
export interface FileRenderer {
  /** Names the rendering: two renderers with the same key render the same files. */
  readonly key: string;
  /**
   * The manager's own DHCP client installs the ENI's main-table default routes from the files (the IPv4 one, and
   * the metric of the one router advertisements add): the agent plans neither.
   */
  readonly installsMainRoutes: boolean;
  /** Where this backend's main-table metrics start (numbering.ts). */
  readonly mainMetricBase: number;
  render(eni: EniFiles): FileSpec[];
}

export interface PlanInput {
  readonly meta: EniMetadata;
  readonly ifname: string;
  readonly flags: AdminFlags;
  readonly settings: Settings;
  /** The backend's files for the ENI (the primary ENI's config belongs to the image: it gets none). */
  readonly renderer: FileRenderer;
  /** The IPv6 router's link-local address as the kernel learned it from router advertisements, when it has. */
  readonly ipv6Router?: string;
  /** The highest metric of the primary ENI's main-table routes, when it has any (facts.ts). */
  readonly primaryRouteMetric?: number;
}

/** The kernel gives an IPv6 route added with metric 0 the user default, 1024; planning it so reads back equal. */
export const IPV6_ROUTE_METRIC = 1024;

export interface Plan {
  readonly ifname: string;
  readonly mac: string;
  readonly eniId: string;
  readonly table: number;
  /** When set, the interface is left alone and this says why. */
  readonly skip?: string;
  readonly rules: readonly Rule[];
  readonly routes: readonly Route[];
  /** Addresses the agent adds itself (secondary IPs, provisioned prefix addresses); DHCP owns the primary. */
  readonly addresses: readonly Address[];
  /** The address DHCP must have put on the interface before routes that name it as source can exist. */
  readonly primaryIpv4?: string;
  /** The agent brings the link up and runs its DHCP: every ENI but the primary, whose link is the image's. */
  readonly activated: boolean;
  /**
   * The metric of the DHCP lease's subnet route in the main table, where the agent's activation sets it (ec2net's own
   * dhclient; networkd sets it from the unit): behind the primary's, so on-subnet replies from the primary address
   * leave by the primary.
   */
  readonly dhcpRouteMetric?: number;
  /** The ENI has IPv6 source rules, whose table needs a default route via the router RA names. */
  readonly wantsIpv6Router: boolean;
  /**
   * Metric for the main-table IPv6 default route the kernel learns from RA on a secondary ENI (sysctl
   * ra_defrtr_metric), so that it ranks behind the primary's as the IPv4 one does.
   */
  readonly raRouteMetric?: number;
  readonly files: readonly FileSpec[];
  /**
   * Alternative interface names: the ENI id, `device-number-D.C` (as amazon-ec2-net-utils v2 names every ENI, card 0
   * too), and on card 0 also `device-number-D` (on card C > 0 that name is card 0's device D).
   */
  readonly altnames: readonly string[];
}

/** The plan routes the ENI's table's IPv6 traffic: a router was known when it was made. */
export function hasIpv6Default(p: Plan): boolean {
  return p.routes.some((r) => r.family === 6 && r.dst === '::/0');
}

export function altnamesFor(meta: EniMetadata): string[] {
  const full = `device-number-${meta.deviceNumber}.${meta.networkCard}`;
  return meta.networkCard > 0 ? [meta.eniId, full] : [meta.eniId, `device-number-${meta.deviceNumber}`, full];
}

export function plan(input: PlanInput): Plan {
  const { meta, ifname, flags, settings } = input;
  const table = tableId(meta.networkCard, meta.deviceNumber);
  const base = { ifname, mac: meta.mac, eniId: meta.eniId, table };
  if (!flags.ec2sync) {
    return { ...base, skip: 'EC2SYNC=no in the ifcfg file', rules: [], routes: [], addresses: [], files: [], altnames: [], wantsIpv6Router: false, activated: false };
  }
  const primary = meta.localIpv4s[0];
  // An IPv6-only network interface has no IPv4 address, or a 169.254.x.x one: there is nothing to route over IPv4.
  const ipv4Routing = primary !== undefined && !contains(LINK_LOCAL_4, parseIpv4(primary) as number);
  const subnet = ipv4Routing ? meta.subnet : undefined;
  const gateway = subnet ? formatIpv4(subnetRouter(subnet)) : undefined;
  const protocol = settings.protocol;

  const addresses: Address[] = [];
  if (ipv4Routing) {
    // Secondaries go on as /32: a kernel "secondary" address of the DHCP primary's subnet would be flushed with
    // the primary whenever DHCP re-adds it (promote_secondaries is off by default).
    const extra = meta.localIpv4s.slice(1);
    if (flags.provisionPrefixIps) {
      for (const p of meta.ipv4Prefixes) extra.push(...addressesOf(p).map(formatIpv4));
    }
    for (const ip of extra) {
      const address = `${ip}/32`;
      if (!addresses.some((a) => a.address === address)) addresses.push({ family: 4, dev: ifname, address });
    }
  }

  // Every address IMDS lists goes on the interface, not only the one DHCPv6 hands out: the predecessors left
  // the rest unusable.
  for (const ip of meta.ipv6s) addresses.push({ family: 6, dev: ifname, address: `${ip}/128` });

  const sourceRules = !meta.isPrimary || settings.primaryRules;
  const wantRules = sourceRules && subnet !== undefined && gateway !== undefined;
  const rules: Rule[] = [];
  const routes: Route[] = [];
  if (wantRules) {
    const sources = [...meta.localIpv4s.map((ip) => `${ip}/32`), ...meta.ipv4Prefixes.map(formatCidr4)];
    for (const src of sources) rules.push({ family: 4, src, table, priority: table, protocol });
    routes.push(
      { family: 4, table, dst: '0.0.0.0/0', dev: ifname, gateway, metric: 0, scope: 'universe', protocol },
      { family: 4, table, dst: formatCidr4(subnet), dev: ifname, prefsrc: primary, metric: 0, scope: 'link', protocol },
    );
  }
  const sources6 = [...meta.ipv6s.map((ip) => `${ip}/128`), ...meta.ipv6Prefixes.map(formatCidr6)];
  const wantsIpv6Router = sourceRules && sources6.length > 0;
  if (wantsIpv6Router) {
    for (const src of sources6) rules.push({ family: 6, src, table, priority: table, protocol });
    const metric = IPV6_ROUTE_METRIC;
    for (const block of meta.subnetIpv6) {
      routes.push({ family: 6, table, dst: formatCidr6(block), dev: ifname, metric, scope: 'universe', protocol });
    }
    if (input.ipv6Router) {
      routes.push({ family: 6, table, dst: '::/0', dev: ifname, gateway: input.ipv6Router, metric, scope: 'universe', protocol });
    }
  }
  const { renderer } = input;
  const metric = mainMetric(renderer.mainMetricBase, meta.networkCard, meta.deviceNumber, input.primaryRouteMetric);
  // Where the manager's DHCP client installs the main-table default (networkd: [DHCPv4] RouteMetric), the agent
  // does not race it.
  if (gateway && !meta.isPrimary && flags.mainRouteTable && !renderer.installsMainRoutes) {
    routes.push({ family: 4, table: MAIN_TABLE, dst: '0.0.0.0/0', dev: ifname, gateway, metric, scope: 'universe', protocol });
  }

  // The primary ENI's config belongs to the image; it is never rewritten.
  const files = meta.isPrimary
    ? []
    : renderer.render({
        meta,
        ifname,
        table,
        flags,
        ...(subnet ? { subnet } : {}),
        addresses,
        routes: routes.filter((r) => r.table === table),
        ...(wantsIpv6Router && input.ipv6Router ? { ipv6Router: input.ipv6Router } : {}),
        mainMetric: metric,
      });
  // Sets the main-table metric of the default route router advertisements add (sysctl ra_defrtr_metric).
  const raRouteMetric = !meta.isPrimary && !renderer.installsMainRoutes && meta.ipv6s.length > 0 ? metric : undefined;

  return {
    ...base,
    rules,
    routes,
    addresses,
    ...(subnet && primary !== undefined ? { primaryIpv4: primary } : {}),
    activated: !meta.isPrimary,
    ...(subnet && !meta.isPrimary && !renderer.installsMainRoutes ? { dhcpRouteMetric: metric } : {}),
    wantsIpv6Router,
    ...(raRouteMetric !== undefined ? { raRouteMetric } : {}),
    files,
    altnames: altnamesFor(meta),
  };
}
