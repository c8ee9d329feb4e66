/**
 * Kernel state as plain data. Addresses are canonical strings ("10.0.1.5/32") so that sets of them compare with ===.
 * Interfaces are named, not indexed: the kernel port translates names to ifindex at the edge.
 */

export type Family = 4 | 6;

/** ≈ `ip rule add from SRC lookup TABLE priority PRIORITY proto PROTOCOL` */
export interface Rule {
  readonly family: Family;
  readonly src: string;
  readonly table: number;
  readonly priority: number;
  readonly protocol: number;
}

export type RouteScope = 'universe' | 'link';

/** ≈ `ip route add DST [via GATEWAY] dev DEV [src PREFSRC] [metric METRIC] table TABLE scope SCOPE proto PROTOCOL` */
export interface Route {
  readonly family: Family;
  readonly table: number;
  readonly dst: string;
  readonly dev: string;
  readonly gateway?: string;
  readonly prefsrc?: string;
  readonly metric: number;
  readonly scope: RouteScope;
  readonly protocol: number;
}

/** ≈ `ip addr add ADDRESS dev DEV` */
export interface Address {
  readonly family: Family;
  readonly dev: string;
  readonly address: string;
}

export interface Link {
  readonly index: number;
  readonly name: string;
  /** Lower-case MAC, or "00:00:00:00:00:00" while a hotplugged device is not yet initialised. */
  readonly mac: string;
  readonly up: boolean;
  /** Alternative names (`ip link property add ... altname`). */
  readonly altnames: readonly string[];
  /** The link's ARPHRD_* type (linux/if_arp.h) when it is not Ethernet (1), as every ENI is: loopback 772, tunnels. */
  readonly arpType?: number;
}

export const MAIN_TABLE = 254;

export function ruleKey(r: Rule): string {
  return `${r.family}|${r.src}|${r.table}|${r.priority}|${r.protocol}`;
}

/**
 * The kernel's identity of a route: two routes with the same key cannot coexist. IPv4 keys a route by table,
 * destination, TOS and metric, not by device (a second one with another device answers EEXIST); IPv6 keeps one
 * per device.
 */
export function routeKey(r: Route): string {
  return `${r.family}|${r.table}|${r.dst}|${r.metric}${r.family === 6 ? `|${r.dev}` : ''}`;
}

/** What the route does, whoever installed it. */
export function routeShape(r: Route): string {
  return `${routeKey(r)}|${r.dev}|${r.gateway ?? ''}|${r.prefsrc ?? ''}|${r.scope}`;
}

/** Everything that must match for an owned route to count as converged. */
export function routeValue(r: Route): string {
  return `${routeShape(r)}|${r.protocol}`;
}

export function addressKey(a: Address): string {
  return `${a.family}|${a.dev}|${a.address}`;
}

export function describeRule(r: Rule): string {
  return `from ${r.src} lookup ${r.table} priority ${r.priority} proto ${r.protocol}`;
}

export function describeRoute(r: Route): string {
  const via = r.gateway ? ` via ${r.gateway}` : '';
  const src = r.prefsrc ? ` src ${r.prefsrc}` : '';
  return `${r.dst}${via} dev ${r.dev}${src} metric ${r.metric} table ${r.table} scope ${r.scope} proto ${r.protocol}`;
}

export function describeAddress(a: Address): string {
  return `${a.address} dev ${a.dev}`;
}

/** Whether `ifname` holds the address `ip` (with whatever prefix length), among `addresses`. */
export function holdsAddress(addresses: readonly Address[], ifname: string, ip: string): boolean {
  return addresses.some((a) => a.dev === ifname && a.address.startsWith(`${ip}/`));
}
