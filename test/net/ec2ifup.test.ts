/**
 * The core flows in the simulated VPC: real dnsmasq DHCP, the IMDSv2 emulator, the nftables source/destination
 * check, and a remote host. "Reachable" means a TCP connection from the remote host to the address succeeds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { KINDS } from '../../src/errors.js';
import { Vpc } from '../vpc/vpc.js';
import { ENI0, ENI1, ENI2, SUBNETS, addressesOf, agent, succeeded, addressLines, kernelSnapshot, newRoot, prefixAddresses, reach, routeLines, ruleLines } from '../support/agent.js';

// proto 4 is `static`.
const FOREIGN_RULE = '1000 from 10.0.9.0/24 lookup 100 proto 4';
const FOREIGN_ROUTE_MAIN = '203.0.113.0/24 via 10.0.1.1 dev eth0 table 254 proto 4';
// In the table ec2net owns for eth1, but on eth0: only the protocol number keeps ec2net's hands off it.
const FOREIGN_ROUTE_TABLE = '192.0.2.0/24 via 10.0.1.1 dev eth0 table 10001 proto 4';

describe('ec2ifup / ec2ifdown in the simulated VPC', () => {
  let vpc: Vpc;
  let root: string;

  const ok = async (cmd: Parameters<typeof agent>[2], args: string[] = []) => succeeded(await agent(vpc, root, cmd, args), `${cmd} ${args.join(' ')}`);
  const foreignSurvives = async () => {
    const rules = await ruleLines(vpc);
    assert.ok(rules.includes(FOREIGN_RULE), `foreign rule gone: ${rules.join(' | ')}`);
    const routes = await routeLines(vpc);
    assert.ok(routes.includes(FOREIGN_ROUTE_MAIN), `foreign main route gone: ${routes.join(' | ')}`);
    assert.ok(routes.includes(FOREIGN_ROUTE_TABLE), `foreign route in table 10001 gone: ${routes.join(' | ')}`);
  };

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    for (const eni of [ENI0, ENI1, ENI2]) await vpc.attach(eni);
    root = newRoot();
    for (const cmd of [
      ['ip', 'rule', 'add', 'from', '10.0.9.0/24', 'lookup', '100', 'priority', '1000', 'proto', 'static'],
      ['ip', 'route', 'add', '203.0.113.0/24', 'via', '10.0.1.1', 'dev', 'eth0', 'proto', 'static'],
      ['ip', 'route', 'add', '192.0.2.0/24', 'via', '10.0.1.1', 'dev', 'eth0', 'table', '10001', 'proto', 'static'],
    ]) {
      const r = await vpc.exec('instance', cmd);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => vpc?.destroy());

  test('(a) before ec2ifup the source/destination check drops replies from secondary addresses', async () => {
    // Put every address on its interface by hand, with no policy routing: replies leave through eth0's default
    // route with a source eth0 does not own, and the VPC drops them.
    for (const eni of [ENI1, ENI2]) {
      await vpc.exec('instance', ['ip', 'link', 'set', eni.ifname, 'up']);
      for (const ip of eni.ipv4s) await vpc.exec('instance', ['ip', 'addr', 'add', `${ip}/24`, 'dev', eni.ifname]);
    }
    const dropsBefore = await vpc.sourceCheckDrops(ENI0.id);
    const r = await reach(vpc, [...ENI0.ipv4s, ...ENI1.ipv4s, ...ENI2.ipv4s]);
    assert.deepEqual(r.ok, ENI0.ipv4s, 'only the primary address answers');
    assert.ok((await vpc.sourceCheckDrops(ENI0.id)) > dropsBefore, 'the check on eth0 dropped the misrouted replies');
    for (const eni of [ENI1, ENI2]) {
      await vpc.exec('instance', ['ip', 'addr', 'flush', 'dev', eni.ifname]);
      await vpc.exec('instance', ['ip', 'link', 'set', eni.ifname, 'down']);
    }
  });

  test('(a) after ec2ifup eth1 and eth2 every address is reachable, with the files users know', async () => {
    await ok('ec2ifup', ['eth1']);
    await ok('ec2ifup', ['eth2']);
    const all = [...addressesOf(ENI0), ...addressesOf(ENI1), ...addressesOf(ENI2)];
    const r = await reach(vpc, all);
    assert.deepEqual(r.failed, []);
    const rules = await ruleLines(vpc);
    for (const ip of ENI1.ipv4s) assert.ok(rules.includes(`10001 from ${ip}/32 lookup 10001 proto 236`), `rule for ${ip}`);
    for (const ip of ENI2.ipv4s) assert.ok(rules.includes(`10002 from ${ip}/32 lookup 10002 proto 236`), `rule for ${ip}`);
    assert.ok(rules.includes('10002 from 10.0.1.48/28 lookup 10002 proto 236'), 'prefix rule');
    assert.equal(rules.filter((l) => l.startsWith('10000 ')).length, 0, 'the primary ENI gets no rules');
    const routes = await routeLines(vpc);
    assert.ok(routes.includes('default via 10.0.2.1 dev eth1 table 10001 proto 236'));
    assert.ok(routes.includes('10.0.2.0/24 dev eth1 table 10001 src 10.0.2.10 proto 236'));
    assert.ok(routes.includes('default via 10.0.2.1 dev eth1 table 254 metric 10001 proto 236'));
    assert.equal(
      readFileSync(`${root}/etc/sysconfig/network-scripts/route-eth1`, 'utf8'),
      'default via 10.0.2.1 dev eth1 table 10001\n10.0.2.0/255.255.255.0 dev eth1 proto kernel scope link src 10.0.2.10 table 10001\ndefault via 10.0.2.1 dev eth1 metric 10001\n',
    );
    assert.match(readFileSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth1`, 'utf8'), /\nHWADDR=02:ec:00:00:00:11\n/);
    // dnsmasq's MTU option reached the interface through ec2net's dhclient script.
    const mtu = await vpc.exec('instance', ['cat', '/sys/class/net/eth1/mtu']);
    assert.equal(mtu.stdout.trim(), '9001');
    await foreignSurvives();
  });

  test('a second ec2ifup on converged state changes nothing', async () => {
    const before = await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']);
    const r = await ok('ec2ifup', ['--verbose', 'eth1']);
    assert.doesNotMatch(r.stderr, /applying changes|starting DHCP/);
    assert.match(r.stderr, /"rulesAdded":0,"rulesRemoved":0,"routesAdded":0,"routesRemoved":0,"addressesAdded":0,"addressesRemoved":0/);
    assert.deepEqual(await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']), before);
  });

  test('two ec2ifup runs on one interface do not interleave; other interfaces do not wait', async () => {
    await vpc.imds.setFault(`/latest/meta-data/network/interfaces/macs/${ENI1.mac}/local-ipv4s`, { delayMs: 1500, times: 2 });
    const started = Date.now();
    const [a, b, c] = await Promise.all([agent(vpc, root, 'ec2ifup', ['eth1']), agent(vpc, root, 'ec2ifup', ['eth1']), agent(vpc, root, 'ec2ifup', ['eth2'])]);
    await vpc.imds.clearFaults();
    assert.deepEqual([a.code, b.code, c.code], [0, 0, 0], `${a.stderr}\n${b.stderr}\n${c.stderr}`);
    const rules = await ruleLines(vpc);
    assert.equal(rules.filter((l) => l.startsWith('10001 ')).length, ENI1.ipv4s.length, 'no duplicate rules');
    assert.ok(Date.now() - started >= 3000, 'the second run on eth1 waited for the first');
  });

  test('(b) a secondary IP assigned in IMDS becomes reachable after ec2ifup; unassigned, it is removed', async () => {
    await vpc.assignIpv4(ENI1.id, '10.0.2.13');
    assert.deepEqual((await reach(vpc, ['10.0.2.13'])).ok, [], 'not reachable before ec2ifup');
    await ok('ec2ifup', ['eth1']);
    assert.deepEqual((await reach(vpc, [...addressesOf(ENI1), '10.0.2.13'])).failed, []);
    await vpc.unassignIpv4(ENI1.id, '10.0.2.13');
    await ok('ec2ifup', ['eth1']);
    assert.ok(!(await addressLines(vpc, 'eth1')).includes('10.0.2.13/32'));
    assert.ok(!(await ruleLines(vpc)).some((l) => l.includes('10.0.2.13')));
    assert.deepEqual((await reach(vpc, addressesOf(ENI1))).failed, []);
    await foreignSurvives();
  });

  test('a failing IMDS removes nothing and exits 20 (Transient: retry later) naming the key', async () => {
    const before = await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']);
    await vpc.imds.setFault(`/latest/meta-data/network/interfaces/macs/${ENI1.mac}/local-ipv4s`, { status: 500 });
    const r = await agent(vpc, root, 'ec2ifup', ['eth1']);
    await vpc.imds.clearFaults();
    assert.equal(r.code, KINDS.Transient.exit, r.stderr);
    assert.match(r.stderr, /local-ipv4s/);
    assert.match(r.stderr, /HTTP 500/);
    assert.deepEqual(await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']), before);
  });

  test('a hostile or oversized IMDS value is refused: exit 31 (InvalidMetadata) or 20 (Transient), nothing written or applied', async () => {
    const key = `network/interfaces/macs/${ENI1.mac}/local-ipv4s`;
    const files = `${root}/etc/sysconfig/network-scripts/ifcfg-eth1`;
    const fileBefore = readFileSync(files, 'utf8');
    const before = await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']);
    // An oversized body is a failed answer (the next may be whole), not a value to judge.
    for (const [body, why, kind] of [
      ['10.0.2.10\n10.0.2.11;reboot', /local-ipv4s/, 'InvalidMetadata'],
      ['10.0.2.10\n'.repeat(8000), /exceeds 65536 bytes/, 'Transient'],
    ] as const) {
      await vpc.imds.setOverride(key, body);
      const r = await agent(vpc, root, 'ec2ifup', ['eth1']);
      await vpc.imds.clearOverrides();
      assert.equal(r.code, KINDS[kind].exit, r.stderr);
      assert.match(r.stderr, why);
      assert.deepEqual(await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']), before);
      assert.equal(readFileSync(files, 'utf8'), fileBefore);
    }
  });

  test('IMDS gives eth1 the device-number of a live eth2: exit 24 (Conflict) naming both ENIs and the table; nothing changed, eth2 stays reachable', async () => {
    // A freshly attached ENI's device-number can answer another's while IMDS propagates (DESIGN.md, "IMDS facts").
    await ok('ec2ifup', ['eth2']);
    const before = await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']);
    await vpc.imds.setOverride(`network/interfaces/macs/${ENI1.mac}/device-number`, String(ENI2.deviceNumber));
    const r = await agent(vpc, root, 'ec2ifup', ['eth1']);
    await vpc.imds.clearOverrides();
    assert.equal(r.code, KINDS.Conflict.exit, r.stderr);
    assert.match(r.stderr, new RegExp(`routing table 1000${ENI2.deviceNumber} belongs to ${ENI2.id} on eth2`));
    assert.match(r.stderr, new RegExp(ENI1.id));
    assert.match(r.stderr, /Conflict/);
    assert.deepEqual(await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']), before);
    assert.deepEqual((await reach(vpc, [...addressesOf(ENI1), ...addressesOf(ENI2)])).failed, []);
  });

  test('usage errors exit 2 and change nothing', async () => {
    for (const args of [[], ['../x'], ['a-name-longer-than-15'], ['eth 1'], ['eth1', 'eth2'], ['--bogus', 'eth1']]) {
      const r = await agent(vpc, root, 'ec2ifup', args);
      assert.equal(r.code, 2, `ec2ifup ${JSON.stringify(args)}: ${r.stderr}`);
    }
  });

  test('(c) ec2ifdown removes that ENI’s rules and addresses only; foreign state survives', async () => {
    await ok('ec2ifdown', ['eth1']);
    const rules = await ruleLines(vpc);
    assert.deepEqual(rules.filter((l) => / proto 236$/.test(l) && l.includes('lookup 10001')), []);
    assert.deepEqual(await addressLines(vpc, 'eth1'), [], 'secondaries removed by ec2net, the lease released by dhclient');
    const routes = await routeLines(vpc);
    assert.deepEqual(routes.filter((l) => l.includes('dev eth1') && l.endsWith('proto 236')), []);
    assert.equal(rules.filter((l) => l.startsWith('10002 ')).length, 3, "eth2's rules stay");
    assert.deepEqual((await reach(vpc, addressesOf(ENI2))).failed, []);
    await foreignSurvives();
  });

  test('ec2ifscan leaves the ENI ec2ifdown took down, and configures the ENI that is not configured', async () => {
    const summaryOf = (stderr: string) => JSON.parse(stderr.trim().split('\n').filter((l) => l.includes('scan finished')).at(-1) ?? '{}') as Record<string, string[]>;
    const left = summaryOf((await ok('ec2ifscan')).stderr);
    assert.deepEqual(left.down, ['eth1']);
    assert.ok(!left.configured?.includes('eth1'), JSON.stringify(left));
    assert.deepEqual((await ruleLines(vpc)).filter((l) => l.includes('lookup 10001')), []);
    // As after a reboot (/run is empty): eth1 is an ENI nobody configured.
    rmSync(`${root}/run/ec2net/state/${ENI1.mac.replace(/:/g, '')}.json`);
    const r = await ok('ec2ifscan');
    const summary = summaryOf(r.stderr);
    assert.ok(summary.configured?.includes('eth1'), r.stderr);
    // eth0 too: the first scan configured the primary, which nothing had before.
    assert.deepEqual([...(summary.alreadyConfigured ?? [])].sort(), ['eth0', 'eth2']);
    assert.deepEqual(summary.failed, []);
    assert.deepEqual((await reach(vpc, [...addressesOf(ENI0), ...addressesOf(ENI1), ...addressesOf(ENI2)])).failed, []);
    await foreignSurvives();
  });

  test('(d) EC2SYNC=no: ec2ifup changes nothing', async () => {
    const ifcfg = `${root}/etc/sysconfig/network-scripts/ifcfg-eth1`;
    const text = readFileSync(ifcfg, 'utf8');
    writeFileSync(ifcfg, text.replace('EC2SYNC=yes', 'EC2SYNC=no'));
    await vpc.assignIpv4(ENI1.id, '10.0.2.14');
    const before = await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']);
    await ok('ec2ifup', ['eth1']);
    await ok('ec2ifdown', ['eth1']);
    assert.deepEqual(await kernelSnapshot(vpc, ['eth0', 'eth1', 'eth2']), before);
    assert.equal(readFileSync(ifcfg, 'utf8'), text.replace('EC2SYNC=yes', 'EC2SYNC=no'));
    writeFileSync(ifcfg, text);
    await vpc.unassignIpv4(ENI1.id, '10.0.2.14');
  });

  test('(d) MAINROUTETABLE=no and EC2PROVISIONPFXIPS=yes: no main default, all 16 prefix addresses reachable', async () => {
    const dir = `${root}/etc/sysconfig/network-scripts`;
    mkdirSync(dir, { recursive: true });
    const text = readFileSync(`${dir}/ifcfg-eth2`, 'utf8');
    writeFileSync(`${dir}/ifcfg-eth2`, text.replace('EC2PROVISIONPFXIPS=\n', 'EC2PROVISIONPFXIPS=yes\n').replace('MAINROUTETABLE=yes', 'MAINROUTETABLE=no'));
    const prefix = prefixAddresses('10.0.1.48/28');
    assert.equal(prefix.length, 16);
    await ok('ec2ifup', ['eth2']);
    const routes = await routeLines(vpc);
    assert.deepEqual(routes.filter((l) => l.startsWith('default') && l.includes('dev eth2') && l.includes('table 254')), []);
    assert.doesNotMatch(readFileSync(`${dir}/route-eth2`, 'utf8'), /metric/);
    assert.deepEqual((await reach(vpc, [...addressesOf(ENI2), ...prefix])).failed, []);
    assert.ok(existsSync(`${dir}/ifcfg-eth2`));
    await foreignSurvives();
  });
});

describe("ifcfg backend: the primary's routes at a metric above 0", () => {
  // The primary's routes as an image's network config may leave them (systemd.network(5): 1024 for DHCPv4 routes
  // unless RouteMetric= is set), with ec2net's own dhclient on a secondary in the primary's subnet: the lease's
  // subnet route gets the secondary's metric, not the kernel's 0, so on-subnet replies from the primary leave by eth0.
  test('a secondary in the primary’s subnet: replies from the primary, on-subnet and off, leave by eth0; every address answers', async () => {
    const vpc = await Vpc.create({ subnets: SUBNETS });
    try {
      await vpc.attach({ ...ENI0, routeMetric: 1024 });
      await vpc.attach(ENI2);
      const root = newRoot({ ifcfgDir: false });
      succeeded(await agent(vpc, root, 'ec2ifup', ['eth2']), 'ec2ifup eth2');
      const main = (await vpc.exec('instance', ['ip', '-4', 'route', 'show', 'table', 'main'])).stdout;
      assert.match(main, /10\.0\.1\.0\/24 dev eth2 proto kernel scope link src 10\.0\.1\.20 metric 10002/, main);
      assert.match((await vpc.exec('instance', ['ip', 'route', 'get', '10.0.1.99', 'from', '10.0.1.10'])).stdout, / dev eth0 /, main);
      assert.match((await vpc.exec('instance', ['ip', 'route', 'get', '198.51.100.10', 'from', '10.0.1.10'])).stdout, / dev eth0 /, main);
      assert.deepEqual((await reach(vpc, [...ENI0.ipv4s, ...addressesOf(ENI2)])).failed, []);
      // A second run finds the client running with that metric: nothing restarts.
      const again = await agent(vpc, root, 'ec2ifup', ['eth2']);
      succeeded(again, 'ec2ifup eth2 (again)');
      assert.doesNotMatch(again.stderr, /starting DHCP/);
    } finally {
      await vpc.destroy();
    }
  });
});
