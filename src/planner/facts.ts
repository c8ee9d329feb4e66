/**
 * Facts the planner needs from the kernel's state, read from a snapshot (plain data, no I/O).
 */
import type { EniMetadata } from '../model/metadata.js';
import { isLinkLocal6 } from '../model/ipv6.js';
import { MAIN_TABLE, type Link, type Route } from '../model/state.js';
import { tableId } from './numbering.js';

function isLinkLocalGateway(r: Route): boolean {
  return r.gateway !== undefined && isLinkLocal6(r.gateway);
}

/**
 * The IPv6 router of an ENI's subnet: the link-local gateway of the default route the kernel learned from
 * router advertisements on the interface. When that route has lapsed (an RA missed, its lifetime run out), the
 * gateway of the table's own default route stands: a router that has gone quiet has not moved, and a missed RA
 * must not take the ENI's IPv6 default route away.
 */
export function ipv6RouterOf(routes: readonly Route[], ifname: string, table: number, protocol: number): string | undefined {
  const isDefault = (r: Route) => r.family === 6 && r.dst === '::/0' && r.dev === ifname && isLinkLocalGateway(r);
  const learned = routes.find((r) => isDefault(r) && r.table === MAIN_TABLE && r.protocol !== protocol);
  return (learned ?? routes.find((r) => isDefault(r) && r.table === table && r.protocol === protocol))?.gateway;
}

/**
 * The highest metric of the primary ENI's main-table routes: its IPv4 routes (default and subnet) and its IPv6
 * default. A secondary ENI's main-table routes must rank behind every one of them, whatever metric the image gave
 * the primary's (networkd's default 1024 on Amazon Linux 2023, netplan's RouteMetric=100 on Ubuntu, 0 from
 * dhclient-script): otherwise a reply from the primary address leaves by the secondary and the VPC drops it.
 */
export function primaryRouteMetricOf(routes: readonly Route[], links: readonly Link[], primaryMac: string): number | undefined {
  const primary = links.find((l) => l.mac === primaryMac)?.name;
  let highest: number | undefined;
  for (const r of routes) {
    if (r.table !== MAIN_TABLE || r.dev !== primary || (r.family === 6 && r.dst !== '::/0')) continue;
    if (highest === undefined || r.metric > highest) highest = r.metric;
  }
  return highest;
}

/** What the planner needs from the kernel beside the metadata. */
export interface KernelFacts {
  /** The ENI's IPv6 router as router advertisements named it (see ipv6RouterOf). */
  readonly ipv6Router?: string;
  /** The highest metric of the primary ENI's main-table routes (see primaryRouteMetricOf); a secondary's only. */
  readonly primaryRouteMetric?: number;
}

export function kernelFactsOf(snap: { readonly routes: readonly Route[]; readonly links: readonly Link[] }, meta: EniMetadata, ifname: string, protocol: number): KernelFacts {
  const ipv6Router = ipv6RouterOf(snap.routes, ifname, tableId(meta.networkCard, meta.deviceNumber), protocol);
  const primaryRouteMetric = meta.isPrimary ? undefined : primaryRouteMetricOf(snap.routes, snap.links, meta.primaryMac);
  return { ...(ipv6Router !== undefined ? { ipv6Router } : {}), ...(primaryRouteMetric !== undefined ? { primaryRouteMetric } : {}) };
}
