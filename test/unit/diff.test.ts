import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { diff, inScope, isEmpty, type Changes, type Desired, type Observed, type Ownership } from '../../src/reconcile/diff.js';
import { prng } from '../support/prng.js';
import {
  MAIN_TABLE,
  addressKey,
  routeKey,
  routeShape,
  routeValue,
  ruleKey,
  type Address,
  type Family,
  type Route,
  type Rule,
} from '../../src/model/state.js';

const OWN = 201;
const BOOT = 3;
const STATIC = 4;
const KERNEL = 2;
const T = 10001;

function rule(src: string, table = T, protocol = OWN, priority = table, family: Family = src.includes(':') ? 6 : 4): Rule {
  return { family, src, table, priority, protocol };
}

function route(over: Partial<Route> & Pick<Route, 'dst'>): Route {
  return { family: 4, table: T, dev: 'eth1', metric: 0, scope: 'universe', protocol: OWN, ...over };
}

function addr(address: string, dev = 'eth1'): Address {
  return { family: address.includes(':') ? 6 : 4, dev, address };
}

const tableDefault = route({ dst: '0.0.0.0/0', gateway: '10.0.2.1' });
const tableSubnet = route({ dst: '10.0.2.0/24', prefsrc: '10.0.2.10', scope: 'link' });
const mainDefault = route({ dst: '0.0.0.0/0', gateway: '10.0.2.1', table: MAIN_TABLE, metric: T });

const DESIRED: Desired = {
  ifname: 'eth1',
  table: T,
  rules: [rule('10.0.2.10/32'), rule('10.0.2.11/32'), rule('10.0.2.16/28')],
  routes: [tableDefault, tableSubnet, mainDefault],
  addresses: [addr('10.0.2.11/24')],
};

function own(...owned: string[]): Ownership {
  return { protocol: OWN, ownedAddresses: new Set(owned) };
}

function observed(over: Partial<Observed> = {}): Observed {
  return { rules: [], routes: [], addresses: [], ...over };
}

const keys = <T>(xs: readonly T[], key: (x: T) => string): string[] => xs.map(key).sort();

/** Kernel state as sets, changed the way the kernel port would change it. Adding what is there fails like EEXIST. */
interface Model {
  rules: Rule[];
  routes: Route[];
  addresses: Address[];
}

function apply(m: Model, c: Changes): Model {
  const rules = m.rules.filter((r) => !c.delRules.some((d) => ruleKey(d) === ruleKey(r)));
  for (const r of c.addRules) {
    if (rules.some((x) => ruleKey(x) === ruleKey(r))) throw new Error(`EEXIST rule ${ruleKey(r)}`);
    rules.push(r);
  }
  for (const d of c.delRoutes) {
    if (!m.routes.some((r) => routeValue(r) === routeValue(d))) throw new Error(`ESRCH route ${routeValue(d)}`);
  }
  const routes = m.routes.filter((r) => !c.delRoutes.some((d) => routeValue(d) === routeValue(r)));
  for (const r of c.addRoutes) {
    if (routes.some((x) => routeKey(x) === routeKey(r))) throw new Error(`EEXIST route ${routeKey(r)}`);
    routes.push(r);
  }
  const addresses = m.addresses.filter((a) => !c.delAddresses.some((d) => addressKey(d) === addressKey(a)));
  for (const a of c.addAddresses) {
    if (addresses.some((x) => addressKey(x) === addressKey(a))) throw new Error(`EEXIST address ${addressKey(a)}`);
    addresses.push(a);
  }
  return { rules, routes, addresses };
}

function converge(desired: Desired, start: Observed, ownership: Ownership): { first: Changes; second: Changes; end: Model } {
  const first = diff(desired, start, ownership);
  const end = apply({ rules: [...start.rules], routes: [...start.routes], addresses: [...start.addresses] }, first);
  const second = diff(desired, end, ownership);
  return { first, second, end };
}

describe('diff: fixed cases', () => {
  test('from nothing: add everything, delete nothing', () => {
    const c = diff(DESIRED, observed(), own());
    assert.deepEqual(keys(c.addRules, ruleKey), keys(DESIRED.rules, ruleKey));
    assert.deepEqual(keys(c.addRoutes, routeValue), keys(DESIRED.routes, routeValue));
    assert.deepEqual(keys(c.addAddresses, addressKey), keys(DESIRED.addresses, addressKey));
    assert.deepEqual([c.delRules, c.delRoutes, c.delAddresses, c.conflicts], [[], [], [], []]);
    assert.equal(isEmpty(c), false);
  });

  test('observed = desired: nothing to do', () => {
    const c = diff(DESIRED, observed({ rules: DESIRED.rules, routes: DESIRED.routes, addresses: DESIRED.addresses }), own('10.0.2.11/24'));
    assert.equal(isEmpty(c), true);
    assert.deepEqual(c.conflicts, []);
  });

  test('isEmpty ignores conflicts but sees every change list', () => {
    const none: Changes = { delRules: [], addRules: [], delRoutes: [], addRoutes: [], delAddresses: [], addAddresses: [], conflicts: [] };
    assert.equal(isEmpty(none), true);
    assert.equal(isEmpty({ ...none, conflicts: [tableDefault] }), true);
    assert.equal(isEmpty({ ...none, delRules: [rule('10.0.2.10/32')] }), false);
    assert.equal(isEmpty({ ...none, addRules: [rule('10.0.2.10/32')] }), false);
    assert.equal(isEmpty({ ...none, delRoutes: [tableDefault] }), false);
    assert.equal(isEmpty({ ...none, addRoutes: [tableDefault] }), false);
    assert.equal(isEmpty({ ...none, delAddresses: [addr('10.0.2.11/24')] }), false);
    assert.equal(isEmpty({ ...none, addAddresses: [addr('10.0.2.11/24')] }), false);
  });

  test('rules of other protocols are never deleted, wherever they point', () => {
    const foreign = [
      rule('10.0.2.99/32', T, 0), // someone's rule in the ENI's table
      rule('10.0.2.10/32', 100, STATIC, 500), // a user's rule for one of this ENI's sources
      rule('10.0.2.50/32', T, BOOT, T), // same priority and table as ours, other owner
      rule('192.168.1.5/32', 2, 0, 512), // a CNI's pod rule
      rule('10.0.2.11/32', T, KERNEL), // same source, table and priority as a desired rule; other protocol
    ];
    const c = diff(DESIRED, observed({ rules: [...foreign, ...DESIRED.rules] }), own());
    assert.deepEqual(c.delRules, []);
    assert.deepEqual(c.addRules, []);
  });

  test("own stale rules in the ENI's table are deleted", () => {
    const stale = rule('10.0.2.50/32'); // an address EC2 took back
    const c = diff(DESIRED, observed({ rules: [...DESIRED.rules, stale] }), own());
    assert.deepEqual(c.delRules, [stale]);
    assert.deepEqual(c.addRules, []);
  });

  test("own rules for this ENI's sources that point at another table are deleted (stale numbering)", () => {
    const elsewhere = rule('10.0.2.10/32', 10003); // priority 10003, table 10003
    const c = diff(DESIRED, observed({ rules: [elsewhere] }), own());
    assert.deepEqual(c.delRules, [elsewhere]);
    assert.deepEqual(keys(c.addRules, ruleKey), keys(DESIRED.rules, ruleKey));
  });

  test("an own rule at this ENI's priority but another table is deleted", () => {
    const misplaced = rule('10.0.9.9/32', 10005, OWN, T);
    assert.deepEqual(diff(DESIRED, observed({ rules: [misplaced] }), own()).delRules, [misplaced]);
  });

  test("own rules of other ENIs are left alone", () => {
    const others = [rule('10.0.3.10/32', 10002), rule('10.0.3.11/32', 10101), rule('2001:db8::10/128', 10002)];
    const c = diff(DESIRED, observed({ rules: [...DESIRED.rules, ...others] }), own());
    assert.deepEqual(c.delRules, []);
  });

  test('a rule for the same source in the other family is not this ENI\'s', () => {
    // Family is part of the source's identity: an own IPv6 rule is not stale because an IPv4 rule shares its text.
    const v6 = rule('10.0.2.10/32', 10002, OWN, 10002, 6);
    assert.deepEqual(diff(DESIRED, observed({ rules: [v6] }), own()).delRules, []);
  });

  test('a foreign route of the same shape satisfies the desired one', () => {
    const installedByInitscripts = [{ ...tableDefault, protocol: BOOT }, { ...tableSubnet, protocol: KERNEL }];
    const c = diff(DESIRED, observed({ routes: [...installedByInitscripts, mainDefault] }), own());
    assert.deepEqual(c.addRoutes, []);
    assert.deepEqual(c.delRoutes, []);
    assert.deepEqual(c.conflicts, []);
  });

  test('a foreign route with the same key and another gateway is a conflict, neither deleted nor overwritten', () => {
    const users = { ...tableDefault, gateway: '10.0.2.254', protocol: STATIC };
    const c = diff(DESIRED, observed({ routes: [users, tableSubnet, mainDefault] }), own());
    assert.deepEqual(c.conflicts, [tableDefault]);
    assert.deepEqual(c.addRoutes, []);
    assert.deepEqual(c.delRoutes, []);
  });

  test("a foreign route holding the kernel's slot (same table, dst, metric) on another interface is a conflict", () => {
    // The kernel identifies a route by table, destination, TOS and metric, not by device: with NLM_F_EXCL (which the
    // kernel port uses) `ip route add default via 10.0.2.1 dev eth1 table 10001` answers EEXIST while
    // `default dev eth9 table 10001` is there. The port swallows EEXIST, so adding cannot converge; the slot is
    // held by another owner and should be reported as such.
    const users = route({ dst: '0.0.0.0/0', gateway: '10.0.2.1', dev: 'eth9', protocol: STATIC });
    const c = diff(DESIRED, observed({ routes: [users, tableSubnet, mainDefault] }), own());
    assert.deepEqual(c.delRoutes, [], 'never deleted');
    assert.deepEqual(c.addRoutes, [], 'an add would only answer EEXIST');
    assert.deepEqual(c.conflicts, [tableDefault]);
  });

  test('a foreign route with the same key and another source address is a conflict', () => {
    const users = { ...tableSubnet, prefsrc: '10.0.2.99', protocol: BOOT };
    const c = diff(DESIRED, observed({ routes: [tableDefault, users, mainDefault] }), own());
    assert.deepEqual(c.conflicts, [tableSubnet]);
    assert.deepEqual(c.addRoutes, []);
  });

  test('an own route with the same key and an old gateway is replaced', () => {
    const old = { ...tableDefault, gateway: '10.0.1.1' };
    const c = diff(DESIRED, observed({ routes: [old, tableSubnet, mainDefault] }), own());
    assert.deepEqual(c.delRoutes, [old]);
    assert.deepEqual(c.addRoutes, [tableDefault]);
    assert.deepEqual(c.conflicts, []);
  });

  test('routes of other protocols are never deleted, in the table or on the interface', () => {
    const foreign = [
      route({ dst: '10.9.0.0/16', gateway: '10.0.2.254', protocol: STATIC }), // a user's static route in the ENI table
      route({ dst: '10.0.2.0/24', table: MAIN_TABLE, scope: 'link', prefsrc: '10.0.2.10', protocol: KERNEL }),
      route({ dst: '0.0.0.0/0', gateway: '10.0.2.1', table: MAIN_TABLE, metric: 1024, protocol: BOOT }), // dhclient's
      route({ dst: '172.17.0.0/16', dev: 'docker0', table: MAIN_TABLE, scope: 'link', protocol: KERNEL }),
    ];
    const c = diff(DESIRED, observed({ routes: [...foreign, ...DESIRED.routes] }), own());
    assert.deepEqual(c.delRoutes, []);
    assert.deepEqual(c.addRoutes, []);
  });

  test('an own main-table default route the plan no longer wants (MAINROUTETABLE=no) is deleted', () => {
    const noMain: Desired = { ...DESIRED, routes: [tableDefault, tableSubnet] };
    const c = diff(noMain, observed({ routes: DESIRED.routes }), own());
    assert.deepEqual(c.delRoutes, [mainDefault]);
    assert.deepEqual(c.addRoutes, []);
  });

  test("own routes outside this ENI's scope are left alone", () => {
    const others = [
      route({ dst: '0.0.0.0/0', gateway: '10.0.3.1', table: 10002, dev: 'eth2' }),
      route({ dst: '0.0.0.0/0', gateway: '10.0.3.1', table: MAIN_TABLE, dev: 'eth2', metric: 10002 }),
    ];
    assert.equal(inScope(others[0] as Route, 'eth1', T), false);
    assert.equal(inScope(others[1] as Route, 'eth1', T), false);
    assert.equal(inScope(mainDefault, 'eth1', T), true);
    assert.equal(inScope({ ...tableDefault, dev: 'eth9' }, 'eth1', T), true);
    const c = diff(DESIRED, observed({ routes: [...DESIRED.routes, ...others] }), own());
    assert.deepEqual(c.delRoutes, []);
  });

  test('an own route in the ENI table on a stale interface name is deleted', () => {
    const stale = route({ dst: '10.0.7.0/24', dev: 'eth9', scope: 'link' });
    const c = diff(DESIRED, observed({ routes: [...DESIRED.routes, stale] }), own());
    assert.deepEqual(c.delRoutes, [stale]);
  });

  test('an address is deleted only when owned, on this interface, and not desired', () => {
    const dhcp = addr('10.0.2.10/24'); // the DHCP client's primary: never ours
    const oldSecondary = addr('10.0.2.12/24'); // ours, EC2 took it back
    const users = addr('192.168.50.1/24'); // an admin's, not recorded as ours
    const elsewhere = addr('10.0.2.12/24', 'eth2'); // same text on another interface
    const c = diff(DESIRED, observed({ addresses: [dhcp, oldSecondary, users, elsewhere, ...DESIRED.addresses] }), own('10.0.2.12/24', '10.0.2.11/24'));
    assert.deepEqual(c.delAddresses, [oldSecondary]);
    assert.deepEqual(c.addAddresses, []);
  });

  test('with nothing owned, no address is deleted', () => {
    const c = diff({ ...DESIRED, addresses: [] }, observed({ addresses: [addr('10.0.2.11/24'), addr('10.0.2.12/24')] }), own());
    assert.deepEqual(c.delAddresses, []);
  });

  test('a desired address on the interface is not added again, one on another interface is', () => {
    const c = diff(DESIRED, observed({ addresses: [addr('10.0.2.11/24', 'eth2')] }), own());
    assert.deepEqual(c.addAddresses, [addr('10.0.2.11/24')]);
  });

  test('a messy start converges in one round and then diffs empty', () => {
    const start = observed({
      rules: [rule('10.0.2.10/32'), rule('10.0.2.50/32'), rule('10.0.2.11/32', 10003), rule('10.0.2.99/32', T, 0), rule('10.0.3.10/32', 10002)],
      routes: [
        { ...tableDefault, gateway: '10.0.1.1' },
        { ...tableSubnet, protocol: KERNEL },
        route({ dst: '10.9.0.0/16', gateway: '10.0.2.254', protocol: STATIC }),
        route({ dst: '10.8.0.0/16', gateway: '10.0.2.1' }),
      ],
      addresses: [addr('10.0.2.10/24'), addr('10.0.2.12/24'), addr('10.0.2.13/24')],
    });
    const { first, second, end } = converge(DESIRED, start, own('10.0.2.12/24'));
    assert.equal(isEmpty(first), false);
    assert.equal(isEmpty(second), true, JSON.stringify(second));
    assert.deepEqual(second.conflicts, []);
    assert.deepEqual(
      keys(end.rules, ruleKey),
      keys([...DESIRED.rules, rule('10.0.2.99/32', T, 0), rule('10.0.3.10/32', 10002)], ruleKey),
    );
    assert.deepEqual(
      keys(end.routes, routeValue),
      keys([tableDefault, { ...tableSubnet, protocol: KERNEL }, mainDefault, route({ dst: '10.9.0.0/16', gateway: '10.0.2.254', protocol: STATIC })], routeValue),
    );
    assert.deepEqual(keys(end.addresses, addressKey), keys([addr('10.0.2.10/24'), addr('10.0.2.11/24'), addr('10.0.2.13/24')], addressKey));
  });
});


interface Case {
  desired: Desired;
  start: Observed;
  own: Ownership;
}

function generate(seed: number): Case {
  const r = prng(seed);
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)] as X;
  const chance = (p: number) => r() < p;
  const subset = <X>(xs: readonly X[], p: number) => xs.filter(() => chance(p));
  const uniqueBy = <X>(xs: readonly X[], key: (x: X) => string) => [...new Map(xs.map((x) => [key(x), x])).values()];

  const ifname = pick(['eth1', 'eth2', 'ens6']);
  const other = ifname === 'eth1' ? 'eth2' : 'eth1';
  const table = pick([10001, 10002, 10101]);
  const ownProto = pick([OWN, 99]);
  const protocols = [ownProto, ownProto, 0, BOOT, STATIC, KERNEL];
  const tables = [table, table, table + 1, MAIN_TABLE, 100];
  const sources: [Family, string][] = [
    [4, '10.0.2.10/32'],
    [4, '10.0.2.11/32'],
    [4, '10.0.2.12/32'],
    [4, '10.0.2.16/28'],
    [4, '10.0.3.10/32'],
    [6, '2001:db8::10/128'],
    [6, '2001:db8::11/128'],
  ];

  const desiredRules = subset(sources, 0.5).map(([family, src]) => ({ family, src, table, priority: table, protocol: ownProto }));
  const randomRules: Rule[] = Array.from({ length: Math.floor(r() * 10) }, () => {
    const [family, src] = pick(sources);
    const t = pick(tables);
    return { family, src, table: t, priority: pick([t, table, 500, 32766]), protocol: pick(protocols) };
  });
  const keptDesiredRules = subset(desiredRules, 0.5).map((x) => (chance(0.2) ? { ...x, protocol: pick(protocols) } : x));
  const startRules = uniqueBy([...randomRules, ...keptDesiredRules], ruleKey);

  const gw = '10.0.2.1';
  const templates: Route[] = [
    { family: 4, table, dst: '0.0.0.0/0', dev: ifname, gateway: gw, metric: 0, scope: 'universe', protocol: ownProto },
    { family: 4, table, dst: '10.0.2.0/24', dev: ifname, prefsrc: '10.0.2.10', metric: 0, scope: 'link', protocol: ownProto },
    { family: 4, table: MAIN_TABLE, dst: '0.0.0.0/0', dev: ifname, gateway: gw, metric: table, scope: 'universe', protocol: ownProto },
    { family: 6, table, dst: '::/0', dev: ifname, gateway: 'fe80::1', metric: 0, scope: 'universe', protocol: ownProto },
  ];
  const desiredRoutes = subset(templates, 0.7);
  const randomRoutes: Route[] = Array.from({ length: Math.floor(r() * 12) }, () => {
    const family: Family = chance(0.8) ? 4 : 6;
    const gateway = pick(family === 4 ? [gw, '10.0.2.254', undefined] : ['fe80::1', 'fe80::2', undefined]);
    return {
      family,
      table: pick(tables),
      dst: family === 4 ? pick(['0.0.0.0/0', '10.0.2.0/24', '10.9.0.0/16']) : pick(['::/0', '2001:db8::/64']),
      dev: pick([ifname, ifname, other, 'docker0']),
      ...(gateway ? { gateway } : {}),
      ...(chance(0.3) ? { prefsrc: family === 4 ? pick(['10.0.2.10', '10.0.2.11']) : '2001:db8::10' } : {}),
      metric: pick([0, table, 100, 1024]),
      scope: gateway ? 'universe' : pick(['link', 'universe'] as const),
      protocol: pick(protocols),
    };
  });
  // Desired routes already present, as they are, under another owner, or with another gateway.
  const variants = subset(desiredRoutes, 0.6).map((x) =>
    pick([x, { ...x, protocol: pick(protocols) }, { ...x, gateway: x.family === 4 ? '10.0.2.254' : 'fe80::2', protocol: pick(protocols) }]),
  );
  // The kernel holds one route per key: the first generated wins.
  const startRoutes = uniqueBy([...variants, ...randomRoutes].reverse(), routeKey);

  const addrPool = ['10.0.2.11/24', '10.0.2.12/24', '10.0.2.13/24', '10.0.2.10/24', '2001:db8::11/128'];
  const allAddrs = [...addrPool.map((a) => addr(a, ifname)), ...addrPool.slice(0, 2).map((a) => addr(a, other))];
  const desiredAddresses = subset(addrPool, 0.4).map((a) => addr(a, ifname));
  const startAddresses = subset(allAddrs, 0.5);
  const owned = new Set(subset(addrPool, 0.5));

  return {
    desired: { ifname, table, rules: desiredRules, routes: desiredRoutes, addresses: desiredAddresses },
    start: { rules: startRules, routes: startRoutes, addresses: startAddresses },
    own: { protocol: ownProto, ownedAddresses: owned },
  };
}

describe('diff: 200 seeded random cases', () => {
  const SEEDS = Array.from({ length: 200 }, (_, i) => 0x5eed + i * 7919);

  test('the generator produces varied cases (deletions, additions, conflicts, foreign state)', () => {
    let dels = 0;
    let adds = 0;
    let conflicts = 0;
    let foreign = 0;
    let delAddrs = 0;
    for (const seed of SEEDS) {
      const { desired, start, own: o } = generate(seed);
      const c = diff(desired, start, o);
      dels += c.delRules.length + c.delRoutes.length;
      adds += c.addRules.length + c.addRoutes.length;
      conflicts += c.conflicts.length;
      delAddrs += c.delAddresses.length;
      foreign += start.rules.filter((x) => x.protocol !== o.protocol).length;
    }
    assert.ok(dels > 50 && adds > 50 && conflicts > 10 && foreign > 100 && delAddrs > 20, JSON.stringify({ dels, adds, conflicts, foreign, delAddrs }));
  });

  test('nothing without own.protocol is ever deleted; only owned addresses on the interface are', () => {
    for (const seed of SEEDS) {
      const { desired, start, own: o } = generate(seed);
      const c = diff(desired, start, o);
      const why = `seed ${seed}`;
      for (const x of c.delRules) {
        assert.equal(x.protocol, o.protocol, why);
        assert.ok(start.rules.includes(x), why);
      }
      for (const x of c.delRoutes) {
        assert.equal(x.protocol, o.protocol, why);
        assert.ok(start.routes.includes(x), why);
        assert.ok(inScope(x, desired.ifname, desired.table), why);
      }
      for (const a of c.delAddresses) {
        assert.ok(o.ownedAddresses.has(a.address), why);
        assert.equal(a.dev, desired.ifname, why);
        assert.ok(!desired.addresses.some((d) => addressKey(d) === addressKey(a)), why);
      }
      for (const x of c.conflicts) {
        const held = start.routes.find((s) => routeKey(s) === routeKey(x));
        assert.ok(held && held.protocol !== o.protocol && routeShape(held) !== routeShape(x), why);
      }
    }
  });

  test('applying the changes converges: the next diff is empty, conflicts stay, foreign state is untouched', () => {
    for (const seed of SEEDS) {
      const { desired, start, own: o } = generate(seed);
      const why = `seed ${seed}`;
      const { first, second, end } = converge(desired, start, o);
      assert.equal(isEmpty(second), true, `${why}: ${JSON.stringify(second)}`);
      assert.deepEqual(keys(second.conflicts, routeValue), keys(first.conflicts, routeValue), why);

      for (const d of desired.rules) assert.ok(end.rules.some((x) => ruleKey(x) === ruleKey(d)), why);
      // An IPv6 address is served by the same address with any prefix length.
      const bare = (x: Address) => (x.family === 6 ? `${x.dev}|${x.address.split('/')[0]}` : addressKey(x));
      for (const d of desired.addresses) assert.ok(end.addresses.some((x) => bare(x) === bare(d)), why);
      for (const d of desired.routes) {
        const held = end.routes.find((x) => routeKey(x) === routeKey(d));
        const ok = held !== undefined && (routeValue(held) === routeValue(d) || routeShape(held) === routeShape(d) || first.conflicts.includes(d));
        assert.ok(ok, `${why}: desired route not served: ${routeValue(d)}`);
      }

      const foreignRules = (xs: readonly Rule[]) => keys(xs.filter((x) => x.protocol !== o.protocol), ruleKey);
      const foreignRoutes = (xs: readonly Route[]) => keys(xs.filter((x) => x.protocol !== o.protocol), routeValue);
      const unowned = (xs: readonly Address[]) => keys(xs.filter((x) => !o.ownedAddresses.has(x.address) || x.dev !== desired.ifname), addressKey);
      assert.deepEqual(foreignRules(end.rules).filter((k) => !first.addRules.some((a) => ruleKey(a) === k)), foreignRules(start.rules), why);
      assert.deepEqual(foreignRoutes(end.routes), foreignRoutes(start.routes), why);
      assert.deepEqual(
        unowned(end.addresses).filter((k) => !first.addAddresses.some((a) => addressKey(a) === k)),
        unowned(start.addresses),
        why,
      );
    }
  });
});
