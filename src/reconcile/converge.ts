/**
 * What "converged" means for one ENI, and the one check of it (unconverged): the link up and holding DHCP's
 * address (where the agent activates it), its altnames, and exactly the planned secondary addresses, rules and
 * routes. ec2ifup verifies against it, drift repair re-applies and verifies against it, and the daemon's refresh
 * round reads it from a snapshot to decide whether an ENI needs a configure. The runs that change an interface
 * (ifup, repair) hold its lock; the round only reads.
 *
 * converge: observe → diff → apply → read back → verify. The same path runs for first configuration, re-runs,
 * repair and teardown (teardown is converging to an empty desired state). It applies rules, routes and
 * addresses; bringing the link up, DHCP and altnames are ifup's, before it converges.
 */
import { Ec2netError } from '../errors.js';
import { MAIN_TABLE, describeAddress, describeRoute, describeRule, holdsAddress, type Address, type Route, type Rule } from '../model/state.js';
import type { KernelPort, KernelSnapshot } from '../ports/kernel.js';
import type { Logger } from '../log.js';
import { diff, isEmpty, type Changes, type Desired, type Observed, type Ownership } from './diff.js';

/**
 * A snapshot's rules, routes and addresses grouped by what one ENI's diff picks them by. The refresh round indexes
 * its one snapshot once and checks every ENI against that index.
 */
export interface SnapshotIndex {
  readonly rulesByTable: Map<number, Rule[]>;
  readonly rulesBySrc: Map<string, Rule[]>;
  readonly rulesByPriority: Map<number, Rule[]>;
  readonly routesByTable: Map<number, Route[]>;
  readonly mainRoutesByDev: Map<string, Route[]>;
  readonly mainRoutesByDst: Map<string, Route[]>;
  readonly addressesByDev: Map<string, Address[]>;
}

function group<T, K>(items: readonly T[], keyOf: (item: T) => K): Map<K, T[]> {
  const into = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = into.get(key);
    if (list) list.push(item);
    else into.set(key, [item]);
  }
  return into;
}

export function indexSnapshot(snap: KernelSnapshot): SnapshotIndex {
  const main = snap.routes.filter((r) => r.table === MAIN_TABLE);
  return {
    rulesByTable: group(snap.rules, (r) => r.table),
    rulesBySrc: group(snap.rules, (r) => r.src),
    rulesByPriority: group(snap.rules, (r) => r.priority),
    routesByTable: group(snap.routes, (r) => r.table),
    mainRoutesByDev: group(main, (r) => r.dev),
    mainRoutesByDst: group(main, (r) => r.dst),
    addressesByDev: group(snap.addresses, (a) => a.dev),
  };
}

/**
 * The part of a snapshot one ENI's diff looks at: the rules of its table, of its priority and of its sources
 * (whatever table they point to); the routes of its table, and those of the main table on its interface or with
 * the destination of one of its routes (a slot another device's route can hold); the addresses on its interface.
 * An instance can hold thousands of rules, addresses and main-table routes (one per IPv6 address); the refresh
 * round diffs every ENI against one snapshot.
 */
export function observedFor(index: SnapshotIndex, desired: Desired): Observed {
  const rules = new Set(index.rulesByTable.get(desired.table));
  for (const r of desired.rules) for (const held of index.rulesBySrc.get(r.src) ?? []) rules.add(held);
  // The priority is the table id: a rule of ours with this priority and another table is stale numbering.
  for (const r of index.rulesByPriority.get(desired.table) ?? []) rules.add(r);
  const routes = new Set(index.routesByTable.get(desired.table));
  for (const r of index.mainRoutesByDev.get(desired.ifname) ?? []) routes.add(r);
  for (const r of desired.routes) for (const held of index.mainRoutesByDst.get(r.dst) ?? []) routes.add(held);
  return {
    rules: [...rules],
    routes: [...routes],
    addresses: index.addressesByDev.get(desired.ifname) ?? [],
  };
}

async function apply(kernel: KernelPort, c: Changes): Promise<void> {
  // New addresses and rules first, in one batch (routes name the addresses as source; a rule whose table has no
  // route yet sends lookups on to the next rule, as before it existed), then routes (the replaced ones go first:
  // same slot); removals of what is no longer wanted come last so traffic never loses its path midway.
  await Promise.all([...c.addAddresses.map((a) => kernel.addAddress(a)), ...c.addRules.map((r) => kernel.addRule(r))]);
  for (const r of c.delRoutes) await kernel.delRoute(r);
  for (const r of c.addRoutes) await kernel.addRoute(r);
  for (const r of c.delRules) await kernel.delRule(r);
  await Promise.all(c.delAddresses.map((a) => kernel.delAddress(a)));
}

export function summarize(c: Changes): Record<string, number> {
  return {
    rulesAdded: c.addRules.length,
    rulesRemoved: c.delRules.length,
    routesAdded: c.addRoutes.length,
    routesRemoved: c.delRoutes.length,
    addressesAdded: c.addAddresses.length,
    addressesRemoved: c.delAddresses.length,
  };
}

/** What is still wrong, one line per item, for the VerificationError and the log. */
function leftovers(c: Changes): string[] {
  return [
    ...c.addRules.map((r) => `missing rule: ${describeRule(r)}`),
    ...c.delRules.map((r) => `left-over rule: ${describeRule(r)}`),
    ...c.addRoutes.map((r) => `missing route: ${describeRoute(r)}`),
    ...c.delRoutes.map((r) => `left-over route: ${describeRoute(r)}`),
    ...c.addAddresses.map((a) => `missing address: ${describeAddress(a)}`),
    ...c.delAddresses.map((a) => `left-over address: ${describeAddress(a)}`),
    ...c.conflicts.map((r) => `route slot held by another owner: ${describeRoute(r)}`),
  ];
}

/** What the link itself lacks, one line per item: up, DHCP's address, altnames. */
function linkProblems(desired: Desired, snap: KernelSnapshot, observed: Observed): string[] {
  const link = snap.links.find((l) => l.name === desired.ifname);
  const problems: string[] = [];
  if (desired.activated) {
    if (!link?.up) problems.push(`link ${desired.ifname} is not up`);
    const want = desired.primaryIpv4;
    if (want !== undefined && !holdsAddress(observed.addresses, desired.ifname, want)) problems.push(`missing DHCP address: ${want} on ${desired.ifname}`);
  }
  for (const name of desired.altnames ?? []) if (!link?.altnames.includes(name)) problems.push(`missing altname: ${name} on ${desired.ifname}`);
  return problems;
}

export interface Unconverged {
  /** The rules, routes and addresses to add and remove. */
  readonly changes: Changes;
  /** Everything that is not as desired, the link's state included, one line per item; empty: converged. */
  readonly problems: readonly string[];
  /** Of those, what the link itself lacks: up, DHCP's address, altnames. */
  readonly link: readonly string[];
}

/** The one definition of converged: one ENI's desired state against a snapshot (and its index, when one is kept). */
export function unconverged(desired: Desired, snap: KernelSnapshot, own: Ownership, index = indexSnapshot(snap)): Unconverged {
  const observed = observedFor(index, desired);
  const changes = diff(desired, observed, own);
  const link = linkProblems(desired, snap, observed);
  return { changes, problems: [...leftovers(changes), ...link], link };
}

export interface ConvergeResult {
  readonly applied: Changes;
}

/**
 * Converges one ENI. `current` may carry a snapshot the caller just took; without one, the kernel is read. When
 * nothing needs changing, that read is the verification; otherwise the kernel is read back after applying.
 */
export async function converge(kernel: KernelPort, desired: Desired, own: Ownership, log: Logger, current?: KernelSnapshot): Promise<ConvergeResult> {
  const before = unconverged(desired, current ?? (await kernel.snapshot()), own);
  let after = before;
  if (!isEmpty(before.changes)) {
    log.info({ table: desired.table, ...summarize(before.changes) }, 'applying changes');
    await apply(kernel, before.changes);
    after = unconverged(desired, await kernel.snapshot(), own);
  }
  if (after.problems.length > 0) {
    throw new Ec2netError('VerificationError', `kernel state does not match the plan: ${after.problems.join('; ')}`, {
      iface: desired.ifname,
      table: desired.table,
      problems: after.problems,
    });
  }
  return { applied: before.changes };
}
