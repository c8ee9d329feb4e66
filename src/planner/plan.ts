/**
 * The planner: validated metadata + interface facts + the admin's flags → the desired state of one ENI.
 * Pure: no clock, no environment, no I/O.
 */
import type { EniMetadata } from '../model/metadata.js';
import { LINK_LOCAL_4, addressesOf, contains, formatCidr4, formatIpv4, parseIpv4, subnetRouter } from '../model/ipv4.js';
import { MAIN_TABLE, type Address, type Route, type Rule } from '../model/state.js';
import type { AdminFlags } from '../render/ifcfg-flags.js';
import type { FileSpec } from '../render/files.js';
import { renderIfcfg, type IfcfgPaths } from '../render/ifcfg.js';
import { ifcfgMainMetric, tableId } from './numbering.js';

export interface Settings {
  /** The rtnetlink protocol number stamped on every rule and route the agent creates. */
  readonly protocol: number;
  /**
   * Source rules for the primary ENI. Off by default: containers on a docker0 bridge reach the host's primary
   * address through the main table, and a `from PRIMARY` rule would send their replies elsewhere.
   */
  readonly primaryRules: boolean;
}

export interface PlanInput {
  readonly meta: EniMetadata;
  readonly ifname: string;
  readonly flags: AdminFlags;
  readonly settings: Settings;
  readonly paths: IfcfgPaths;
}

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
  readonly files: readonly FileSpec[];
  /** Alternative interface names: the ENI id and `device-number-D` (`device-number-D.C` on card C > 0). */
  readonly altnames: readonly string[];
}

export function altnamesFor(meta: EniMetadata): string[] {
  return [meta.eniId, `device-number-${meta.deviceNumber}${meta.networkCard > 0 ? `.${meta.networkCard}` : ''}`];
}

export function plan(input: PlanInput): Plan {
  const { meta, ifname, flags, settings } = input;
  const table = tableId(meta.networkCard, meta.deviceNumber);
  const base = { ifname, mac: meta.mac, eniId: meta.eniId, table };
  if (!flags.ec2sync) {
    return { ...base, skip: 'EC2SYNC=no in the ifcfg file', rules: [], routes: [], addresses: [], files: [], altnames: [] };
  }
  const primary = meta.localIpv4s[0] as string;
  // An IPv6-only subnet gives the ENI a 169.254.x.x address: there is nothing to route over IPv4.
  const ipv4Routing = !contains(LINK_LOCAL_4, parseIpv4(primary) as number);
  const gateway = formatIpv4(subnetRouter(meta.subnet));
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

  const wantRules = ipv4Routing && (!meta.isPrimary || settings.primaryRules);
  const rules: Rule[] = [];
  const routes: Route[] = [];
  if (wantRules) {
    const sources = [...meta.localIpv4s.map((ip) => `${ip}/32`), ...meta.ipv4Prefixes.map(formatCidr4)];
    for (const src of sources) rules.push({ family: 4, src, table, priority: table, protocol });
    routes.push(
      { family: 4, table, dst: '0.0.0.0/0', dev: ifname, gateway, metric: 0, scope: 'universe', protocol },
      { family: 4, table, dst: formatCidr4(meta.subnet), dev: ifname, prefsrc: primary, metric: 0, scope: 'link', protocol },
    );
  }
  if (ipv4Routing && !meta.isPrimary && flags.mainRouteTable) {
    const metric = ifcfgMainMetric(meta.networkCard, meta.deviceNumber);
    routes.push({ family: 4, table: MAIN_TABLE, dst: '0.0.0.0/0', dev: ifname, gateway, metric, scope: 'universe', protocol });
  }

  // The primary ENI's ifcfg file belongs to the image; it is never rewritten.
  const files = meta.isPrimary
    ? []
    : renderIfcfg(input.paths, {
        ifname,
        mac: meta.mac,
        table,
        mainMetric: ifcfgMainMetric(meta.networkCard, meta.deviceNumber),
        subnet: meta.subnet,
        primaryIpv4: primary,
        flags,
        ipv4Routing,
      });

  return { ...base, rules, routes, addresses, ...(ipv4Routing ? { primaryIpv4: primary } : {}), files, altnames: altnamesFor(meta) };
}
