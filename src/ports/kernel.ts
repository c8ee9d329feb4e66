/**
 * The one interface between ec2net and the kernel's network state. Each method is documented by its `ip`
 * equivalent. Adds and deletes are idempotent: adding what exists and deleting what is gone are not errors.
 */
import type { Address, Family, Link, Route, Rule } from '../model/state.js';

/** A watch on links, addresses and routes, for a wait that would otherwise poll (KernelPort.watch). */
export interface KernelWatch {
  /**
   * Resolves at the first notification since the watch began or since the last call resolved, or after
   * `withinMs`, whichever comes first. A notification lost to an overflowing socket counts as one.
   */
  changed(withinMs: number): Promise<void>;
  close(): void;
}

/** One read of everything ec2net looks at. */
export interface KernelSnapshot {
  readonly links: Link[];
  readonly rules: Rule[];
  readonly routes: Route[];
  readonly addresses: Address[];
}

export interface KernelPort {
  /** ≈ `ip link; ip -4 rule; ip -4 route show table all; ip -4 addr`, with one link dump for the names */
  snapshot(): Promise<KernelSnapshot>;
  /** ≈ `ip link show` */
  links(): Promise<Link[]>;
  /** ≈ `ip -4 rule show` (or -6) */
  rules(family: Family): Promise<Rule[]>;
  /** ≈ `ip -4 route show table all`, unicast routes only (the kernel's local and broadcast routes are left out) */
  routes(family: Family): Promise<Route[]>;
  /** ≈ `ip -4 addr show` */
  addresses(family: Family): Promise<Address[]>;
  /** ≈ `ip rule add from SRC lookup TABLE priority P proto N` */
  addRule(rule: Rule): Promise<void>;
  /** ≈ `ip rule del from SRC lookup TABLE priority P proto N` */
  delRule(rule: Rule): Promise<void>;
  /** ≈ `ip route add DST [via GW] dev DEV [src SRC] metric M table T scope S proto N` */
  addRoute(route: Route): Promise<void>;
  /** ≈ `ip route del DST dev DEV metric M table T proto N` */
  delRoute(route: Route): Promise<void>;
  /** ≈ `ip addr add ADDRESS dev DEV` */
  addAddress(address: Address): Promise<void>;
  /** ≈ `ip addr del ADDRESS dev DEV` */
  delAddress(address: Address): Promise<void>;
  /** ≈ `ip link set dev NAME up` */
  setLinkUp(name: string): Promise<void>;
  /** ≈ `ip link set dev NAME down` */
  setLinkDown(name: string): Promise<void>;
  /**
   * ≈ `sysctl -w net.ipv6.conf.NAME.ra_defrtr_metric=METRIC`: the metric of the default route the kernel learns
   * from router advertisements on the interface. Returns whether it changed.
   */
  setRaRouteMetric(name: string, metric: number): Promise<boolean>;
  /**
   * ≈ `sysctl -w net.ipv6.conf.NAME.accept_ra=2` where it is 1: router advertisements stay accepted when
   * forwarding is on (with accept_ra=1 the kernel ignores them then). 0 (the admin turned RAs off) is left alone.
   * Returns whether it changed.
   */
  acceptRaWhileForwarding(name: string): Promise<boolean>;
  /**
   * ≈ `ip monitor link address route`, from now on: what a wait for DHCP's address, a link's MAC or a router
   * advertisement's route wakes on, instead of polling. The caller closes it.
   */
  watch(): KernelWatch;
  /** ≈ `hostname`: the UTS namespace's hostname. */
  hostname(): Promise<string>;
  /** ≈ `hostname NAME` */
  setHostname(name: string): Promise<void>;
  /** ≈ `ip link property add dev NAME altname ALTNAME`; a name already taken is not an error. */
  addAltname(name: string, altname: string): Promise<void>;
  close(): void;
}
