/**
 * The one definition of converged (reconcile/converge.ts, unconverged): the link up with DHCP's address where the
 * agent activates it, its altnames, and exactly the planned rules, routes and addresses. ec2ifup verifies against
 * it, drift repair re-applies against it, and the daemon's round reads it from a snapshot.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { EC2NET_PROTOCOL as P } from '../../src/config.js';
import { Ec2netError } from '../../src/errors.js';
import type { KernelSnapshot } from '../../src/ports/kernel.js';
import { converge, unconverged } from '../../src/reconcile/converge.js';
import type { Desired } from '../../src/reconcile/diff.js';
import { FakeKernel } from '../fakes/kernel.js';

const LINK = { index: 3, name: 'eth1', mac: '02:00:00:00:00:02', up: true, altnames: ['eni-00000000000000002', 'device-number-1'] };
const RULE = { family: 4 as const, src: '10.0.2.11/32', table: 10001, priority: 10001, protocol: P };
const ROUTE = { family: 4 as const, table: 10001, dst: '0.0.0.0/0', dev: 'eth1', gateway: '10.0.2.1', metric: 0, scope: 'universe' as const, protocol: P };
const SECONDARY = { family: 4 as const, dev: 'eth1', address: '10.0.2.11/32' };
const LEASE = { family: 4 as const, dev: 'eth1', address: '10.0.2.10/24' };

const desired: Desired = {
  ifname: 'eth1',
  table: 10001,
  rules: [RULE],
  routes: [ROUTE],
  addresses: [SECONDARY],
  activated: true,
  primaryIpv4: '10.0.2.10',
  altnames: LINK.altnames,
};
const own = { protocol: P, ownedAddresses: new Set([SECONDARY.address]) };

function snap(over: Partial<KernelSnapshot> = {}): KernelSnapshot {
  return { links: [LINK], rules: [RULE], routes: [ROUTE], addresses: [LEASE, SECONDARY], ...over };
}

describe('unconverged', () => {
  test('everything in place: no problems, no changes', () => {
    assert.deepEqual(unconverged(desired, snap(), own).problems, []);
  });

  test('each part of the definition, missing on its own, is a problem', () => {
    const cases: [string, KernelSnapshot, RegExp][] = [
      ['link down', snap({ links: [{ ...LINK, up: false }] }), /link eth1 is not up/],
      ["DHCP's address gone", snap({ addresses: [SECONDARY] }), /missing DHCP address: 10\.0\.2\.10/],
      ['an altname gone', snap({ links: [{ ...LINK, altnames: ['device-number-1'] }] }), /missing altname: eni-00000000000000002/],
      ['a secondary address gone', snap({ addresses: [LEASE] }), /missing address/],
      ['a rule gone', snap({ rules: [] }), /missing rule/],
      ['a route gone', snap({ routes: [] }), /missing route/],
      ['a rule of ours left over', snap({ rules: [RULE, { ...RULE, src: '10.0.2.99/32' }] }), /left-over rule/],
    ];
    for (const [what, s, says] of cases) {
      const { problems } = unconverged(desired, s, own);
      assert.equal(problems.length, 1, `${what}: ${problems.join('; ')}`);
      assert.match(problems[0] as string, says, what);
    }
    // No link at all: not up, and none of its altnames.
    assert.equal(unconverged(desired, snap({ links: [] }), own).problems.length, 3);
  });

  test("the primary ENI's link is the image's: down or without the lease it is not ec2net's problem", () => {
    const primary = { ...desired, activated: false };
    assert.deepEqual(unconverged(primary, snap({ links: [{ ...LINK, up: false }], addresses: [SECONDARY] }), own).problems, []);
  });

  test('teardown (an empty desired state) looks at rules, routes and addresses only', () => {
    const empty: Desired = { ifname: 'eth1', table: 10001, rules: [], routes: [], addresses: [] };
    const { problems, changes } = unconverged(empty, snap({ links: [{ ...LINK, up: false }] }), own);
    assert.equal(changes.delRules.length + changes.delRoutes.length + changes.delAddresses.length, 3);
    assert.equal(problems.length, 3);
    assert.ok(problems.every((p) => p.startsWith('left-over')));
  });
});

describe('converge verifies against the same definition', () => {
  test('rules, routes and addresses are applied; a link that is down fails verification, naming it', async () => {
    const kernel = new FakeKernel({ links_: [{ ...LINK, up: false }], addresses_: [LEASE] });
    await assert.rejects(
      converge(kernel, desired, own, pino({ level: 'silent' })),
      (e: unknown) => e instanceof Ec2netError && e.kind === 'VerificationError' && /link eth1 is not up/.test(e.message),
    );
    assert.deepEqual([kernel.rules_.length, kernel.routes_.length, kernel.addresses_.length], [1, 1, 2]);
    await kernel.setLinkUp('eth1');
    const { applied } = await converge(kernel, desired, own, pino({ level: 'silent' }));
    assert.equal(applied.addRules.length, 0);
  });
});
