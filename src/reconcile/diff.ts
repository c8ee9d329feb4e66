/**
 * Pure diff between what the kernel holds and what one ENI should have. Ownership is the invariant: a rule or
 * route is only ever deleted when it carries the agent's protocol number, and an address only when the agent
 * recorded adding it. Everything else on the machine (a CNI's rules, a user's static routes, docker's routes)
 * is outside the diff.
 */
import {
  MAIN_TABLE,
  addressKey,
  ruleKey,
  routeKey,
  routeShape,
  routeValue,
  type Address,
  type Route,
  type Rule,
} from '../model/state.js';

export interface Desired {
  readonly ifname: string;
  readonly table: number;
  readonly rules: readonly Rule[];
  readonly routes: readonly Route[];
  readonly addresses: readonly Address[];
  /**
   * The agent brings the link up and runs its DHCP (every ENI but the primary, whose link is the image's): the
   * link must be up and hold `primaryIpv4`. Absent when tearing down.
   */
  readonly activated?: boolean;
  /** The address DHCP puts on the interface. */
  readonly primaryIpv4?: string;
  /** Alternative names the link must carry. */
  readonly altnames?: readonly string[];
}

export interface Observed {
  /** Every rule the diff can be about: those of the ENI's table and priority, and any for one of its sources. */
  readonly rules: readonly Rule[];
  /**
   * Routes of the ENI's table, and of the main table those on its interface or with a destination it wants (only
   * those on the interface are ever deleted).
   */
  readonly routes: readonly Route[];
  /** Addresses on the interface. */
  readonly addresses: readonly Address[];
}

export interface Ownership {
  readonly protocol: number;
  /** Addresses (address strings) the agent added to this interface on earlier runs. */
  readonly ownedAddresses: ReadonlySet<string>;
}

export interface Changes {
  readonly delRules: readonly Rule[];
  readonly addRules: readonly Rule[];
  readonly delRoutes: readonly Route[];
  readonly addRoutes: readonly Route[];
  readonly delAddresses: readonly Address[];
  readonly addAddresses: readonly Address[];
  /** Desired routes whose slot is held by a route the agent does not own; reported, never overwritten. */
  readonly conflicts: readonly Route[];
}

export function isEmpty(c: Changes): boolean {
  return (
    c.delRules.length + c.addRules.length + c.delRoutes.length + c.addRoutes.length + c.delAddresses.length + c.addAddresses.length === 0
  );
}

/** Routes this ENI's diff looks at: its table, and the main table on its interface. */
export function inScope(route: Route, ifname: string, table: number): boolean {
  return route.table === table || (route.table === MAIN_TABLE && route.dev === ifname);
}

/**
 * The kernel holds an IPv6 address once per interface whatever its prefix length (a second add answers EEXIST):
 * the one DHCPv6 configured with its own length serves as the /128 the plan asks for.
 */
function addressIdentity(a: Address): string {
  return a.family === 6 ? `6|${a.dev}|${a.address.slice(0, a.address.indexOf('/'))}` : addressKey(a);
}

export function diff(desired: Desired, observed: Observed, own: Ownership): Changes {
  const wantRules = new Set(desired.rules.map(ruleKey));
  const desiredSources = { 4: new Set<string>(), 6: new Set<string>() };
  for (const r of desired.rules) desiredSources[r.family].add(r.src);
  // The rules this ENI's diff is about: ours in its table, or ours for one of its sources but pointing elsewhere
  // (stale numbering). Picked with cheap comparisons first and no string built per rule: an instance can hold
  // thousands of rules, and the refresh round diffs every ENI.
  const relevant = observed.rules.filter(
    (r) => r.protocol === own.protocol && (r.table === desired.table || r.priority === desired.table || desiredSources[r.family].has(r.src)),
  );
  const haveRules = new Set(relevant.map(ruleKey));
  const delRules = relevant.filter((r) => !wantRules.has(ruleKey(r)));
  const addRules = desired.rules.filter((r) => !haveRules.has(ruleKey(r)));

  const scoped = observed.routes.filter((r) => inScope(r, desired.ifname, desired.table));
  const wantRouteValues = new Set(desired.routes.map(routeValue));
  // Slots are per table, whatever the device: a main-table route on another interface can hold ours.
  const wantKeys = new Set(desired.routes.map(routeKey));
  // The main table holds a route for every IPv6 address on every interface: match destinations before keys.
  const wantDsts = new Set(desired.routes.map((r) => r.dst));
  const haveByKey = new Map(observed.routes.filter((r) => wantDsts.has(r.dst) && wantKeys.has(routeKey(r))).map((r) => [routeKey(r), r]));
  const delRoutes = scoped.filter((r) => r.protocol === own.protocol && !wantRouteValues.has(routeValue(r)));
  const deleted = new Set(delRoutes.map(routeKey));
  const addRoutes: Route[] = [];
  const conflicts: Route[] = [];
  for (const r of desired.routes) {
    const held = haveByKey.get(routeKey(r));
    if (held && routeValue(held) === routeValue(r)) continue;
    // initscripts installs route-IF itself (as proto boot/kernel); the same route under another owner serves.
    if (held && held.protocol !== own.protocol && routeShape(held) === routeShape(r)) continue;
    if (held && held.protocol !== own.protocol) conflicts.push(r);
    else if (!held || deleted.has(routeKey(r))) addRoutes.push(r);
  }

  const wantAddrs = new Set(desired.addresses.map(addressIdentity));
  const haveAddrs = new Set(observed.addresses.map(addressIdentity));
  const delAddresses = observed.addresses.filter(
    (a) => a.dev === desired.ifname && own.ownedAddresses.has(a.address) && !wantAddrs.has(addressIdentity(a)),
  );
  const addAddresses = desired.addresses.filter((a) => !haveAddrs.has(addressIdentity(a)));

  return { delRules, addRules, delRoutes, addRoutes, delAddresses, addAddresses, conflicts };
}
