/**
 * Property-based tests (fast-check) of the whole plan → diff → apply path over the stateful fake kernel:
 * for any sequence of IMDS states and admin flags, the kernel ends in the last state's plan, a second run is a
 * no-op, and nothing the agent does not own is ever deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { ifup } from '../../src/agent/ifup.js';
import { EC2NET_PROTOCOL } from '../../src/config.js';
import { addressKey, routeKey, ruleKey, type Address, type Route, type Rule } from '../../src/model/state.js';
import { FakeKernel } from '../fakes/kernel.js';
import { FakeImds, type FakeEni } from '../fakes/imds.js';
import { fakeContext } from '../fakes/context.js';

const P = EC2NET_PROTOCOL;
const ETH1: FakeEni = { mac: '02:00:00:00:00:02', id: 'eni-00000000000000002', deviceNumber: 1, subnet: '10.0.2.0/24', ipv4s: ['10.0.2.10'] };
const PRIMARY = { mac: '02:00:00:00:00:01', id: 'eni-00000000000000001', deviceNumber: 0, subnet: '10.0.1.0/24', ipv4s: ['10.0.1.10'] };

const state = fc.record({
  secondaries: fc.uniqueArray(fc.integer({ min: 11, max: 40 }), { maxLength: 8 }),
  prefixes: fc.subarray(['10.0.2.48/28', '10.0.2.64/28']),
  mainRouteTable: fc.boolean(),
  provision: fc.boolean(),
});

const foreignRule = fc.record({
  src: fc.constantFrom('10.0.2.11/32', '10.0.9.0/24', '0.0.0.0/0', '10.0.2.48/28'),
  table: fc.constantFrom(100, 254, 10001, 10002),
  priority: fc.integer({ min: 100, max: 32000 }),
  protocol: fc.constantFrom(0, 3, 4, 16),
}).map((r): Rule => ({ family: 4, ...r }));

const foreignRoute = fc.record({
  dst: fc.constantFrom('192.0.2.0/24', '198.51.100.0/24', '0.0.0.0/0'),
  table: fc.constantFrom(10001, 10002, 254),
  metric: fc.integer({ min: 1, max: 5000 }),
  protocol: fc.constantFrom(3, 4, 16),
}).map((r): Route => ({ family: 4, dev: 'eth0', gateway: '10.0.1.1', scope: 'universe', ...r }));

test('any sequence of IMDS states converges to the last one, re-runs are no-ops, foreign state survives', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(state, { minLength: 1, maxLength: 5 }), fc.uniqueArray(foreignRule, { maxLength: 5, selector: ruleKey }), fc.uniqueArray(foreignRoute, { maxLength: 4, selector: routeKey }), async (states, rules, routes) => {
      const foreignAddress: Address = { family: 4, dev: 'eth1', address: '10.0.2.200/32' };
      const kernel = new FakeKernel({
        links_: [
          { index: 2, name: 'eth0', mac: PRIMARY.mac, up: true, altnames: [] },
          { index: 3, name: 'eth1', mac: ETH1.mac, up: false, altnames: [] },
        ],
        rules_: rules,
        routes_: routes,
        addresses_: [{ family: 4, dev: 'eth0', address: '10.0.1.10/24' }, foreignAddress],
      });
      const imds = FakeImds.of([PRIMARY, ETH1]);
      const { ctx, dhcp, root } = fakeContext(kernel, imds);
      dhcp.leases.set('eth1', '10.0.2.10/24');
      let last;
      for (const s of states) {
        imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, ['10.0.2.10', ...s.secondaries.map((n) => `10.0.2.${n}`)].join('\n'));
        imds.set(`network/interfaces/macs/${ETH1.mac}/ipv4-prefix`, s.prefixes.length ? s.prefixes.join('\n') : undefined);
        mkdirSync(`${root}/etc/sysconfig/network-scripts`, { recursive: true });
        writeFileSync(
          `${root}/etc/sysconfig/network-scripts/ifcfg-eth1`,
          `DEVICE=eth1\nMAINROUTETABLE=${s.mainRouteTable ? 'yes' : 'no'}\nEC2PROVISIONPFXIPS=${s.provision ? 'yes' : 'no'}\n`,
        );
        last = (await ifup(ctx, 'eth1')).plan;
      }
      assert.ok(last);
      // Converged to the last state's plan: our rules, routes and added addresses are exactly the plan's.
      const sort = (xs: string[]) => [...xs].sort();
      assert.deepEqual(sort(kernel.rules_.filter((r) => r.protocol === P).map(ruleKey)), sort(last.rules.map(ruleKey)));
      assert.deepEqual(sort(kernel.routes_.filter((r) => r.protocol === P).map(routeKey)), sort(last.routes.map(routeKey)));
      const wanted = new Set(last.addresses.map(addressKey));
      const onEth1 = kernel.addresses_.filter((a) => a.dev === 'eth1').map(addressKey);
      for (const k of wanted) assert.ok(onEth1.includes(k), `missing ${k}`);
      for (const k of onEth1) assert.ok(wanted.has(k) || k === addressKey(foreignAddress) || k.endsWith('|10.0.2.10/24'), `left over ${k}`);
      // Nothing the agent does not own was deleted.
      for (const r of rules) assert.ok(kernel.rules_.some((x) => ruleKey(x) === ruleKey(r)), `foreign rule deleted: ${ruleKey(r)}`);
      for (const r of routes) assert.ok(kernel.routes_.some((x) => routeKey(x) === routeKey(r) && x.protocol === r.protocol), `foreign route deleted: ${routeKey(r)}`);
      assert.ok(kernel.addresses_.some((a) => addressKey(a) === addressKey(foreignAddress)));
      // A second run is a no-op.
      kernel.calls.length = 0;
      const again = await ifup(ctx, 'eth1');
      assert.equal(again.changed, false);
      assert.deepEqual(kernel.calls.filter((c) => c !== 'setLinkUp'), []);
    }),
    { numRuns: 60, seed: 20261128 },
  );
});
