/**
 * observe → diff → apply → read back → verify, for one ENI. The same path runs for first configuration,
 * re-runs, and teardown (teardown is converging to an empty desired state).
 */
import { Ec2netError } from '../errors.js';
import { MAIN_TABLE, describeAddress, describeRoute, describeRule } from '../model/state.js';
import type { KernelPort, KernelSnapshot } from '../ports/kernel.js';
import type { Logger } from '../log.js';
import { diff, isEmpty, type Changes, type Desired, type Observed, type Ownership } from './diff.js';

/** The part of a snapshot one ENI's diff looks at. */
export function observedFor(snap: KernelSnapshot, ifname: string, table: number): Observed {
  return {
    rules: snap.rules,
    routes: snap.routes.filter((r) => r.table === table || r.table === MAIN_TABLE),
    addresses: snap.addresses.filter((a) => a.dev === ifname),
  };
}

async function apply(kernel: KernelPort, c: Changes): Promise<void> {
  // New addresses first (routes name them as source), then routes (the replaced ones go first: same slot),
  // then rules; removals of what is no longer wanted come last so traffic never loses its path midway.
  await Promise.all(c.addAddresses.map((a) => kernel.addAddress(a)));
  for (const r of c.delRoutes) await kernel.delRoute(r);
  for (const r of c.addRoutes) await kernel.addRoute(r);
  await Promise.all(c.addRules.map((r) => kernel.addRule(r)));
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

/** What is still wrong after apply, one line per item, for the VerificationError. */
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

export interface ConvergeResult {
  readonly applied: Changes;
}

/**
 * Converges one ENI. `current` may carry a snapshot the caller just took; without one, the kernel is read. When
 * nothing needs changing, that read is the verification; otherwise the kernel is read back after applying.
 */
export async function converge(kernel: KernelPort, desired: Desired, own: Ownership, log: Logger, current?: KernelSnapshot): Promise<ConvergeResult> {
  const before = diff(desired, observedFor(current ?? (await kernel.snapshot()), desired.ifname, desired.table), own);
  let after = before;
  if (!isEmpty(before)) {
    log.info({ table: desired.table, ...summarize(before) }, 'applying changes');
    await apply(kernel, before);
    after = diff(desired, observedFor(await kernel.snapshot(), desired.ifname, desired.table), own);
  }
  const problems = leftovers(after);
  if (problems.length > 0) {
    throw new Ec2netError('VerificationError', `kernel state does not match the plan: ${problems.join('; ')}`, {
      iface: desired.ifname,
      table: desired.table,
      problems,
    });
  }
  return { applied: before };
}
