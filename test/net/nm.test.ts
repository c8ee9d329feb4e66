/**
 * Issue 16, NetworkManager backend: the agent against a real NetworkManager 1.42 (Debian 12) running in the
 * instance namespace with private directories (test/vpc/networkmanager.ts), configured as on RHEL: keyfile plugin,
 * internal DHCP client, the primary managed by the image's profile (cloud-init's "cloud-init eth0", metric 100),
 * and a "Wired connection N" made for every new ENI. The backend is detected (/run/NetworkManager/devices under
 * EC2NET_ROOT, which NetworkManager sees as /run/NetworkManager).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Vpc, type EniSpec } from '../vpc/vpc.js';
import { NetworkManager } from '../vpc/networkmanager.js';
import { DUAL_SUBNETS, agentVia, eventually, everyAddress, ipLines, newRoot, reach, startDaemon } from '../support/agent.js';

const N0: EniSpec = { id: 'eni-0000000000000f000', mac: '02:ec:00:00:05:10', ifname: 'eth0', subnet: 'd1', deviceNumber: 0, ipv4s: ['10.0.1.10'], ipv6s: ['2001:db8:1::10'] };
const N1: EniSpec = {
  id: 'eni-0000000000000f001',
  mac: '02:ec:00:00:05:11',
  ifname: 'eth1',
  subnet: 'd2',
  deviceNumber: 1,
  ipv4s: ['10.0.2.10', '10.0.2.11', '10.0.2.12'],
  ipv4Prefixes: ['10.0.2.48/28'],
  ipv6s: ['2001:db8:2::10', '2001:db8:2::11'],
  ipv6Prefixes: ['2001:db8:2:0:1234::/80'],
};
/** In the primary's subnet, IPv4 only. */
const N2: EniSpec = { id: 'eni-0000000000000f002', mac: '02:ec:00:00:05:12', ifname: 'eth2', subnet: 'd1', deviceNumber: 2, ipv4s: ['10.0.1.20', '10.0.1.21'] };
/** Attached while ec2netd runs. */
const N3: EniSpec = { id: 'eni-0000000000000f003', mac: '02:ec:00:00:05:13', ifname: 'eth3', subnet: 'd2', deviceNumber: 3, ipv4s: ['10.0.2.30', '10.0.2.31'], ipv6s: ['2001:db8:2::30', '2001:db8:2::31'] };
const CLOUD_INIT_ETH0 = `[connection]\nid=cloud-init eth0\nuuid=1dd9a779-d327-56e1-8454-c65e2556c12c\ntype=ethernet\n\n[ethernet]\nmac-address=${N0.mac}\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n`;
const PROFILE1 = 'run/NetworkManager/system-connections/ec2net-02ec00000511.nmconnection';
const PROFILE2 = 'run/NetworkManager/system-connections/ec2net-02ec00000512.nmconnection';
const PROFILE3 = 'run/NetworkManager/system-connections/ec2net-02ec00000513.nmconnection';
const FOREIGN_RULE = '1000: from 10.0.9.0/24 lookup 100 proto static';

describe('NetworkManager backend against a real NetworkManager', () => {
  let vpc: Vpc;
  let nm: NetworkManager;
  let root: string;

  const { run, ok } = agentVia(() => ({ exec: (argv, o) => nm.exec(argv, o), vpc, root }));
  const ip = (...args: string[]) => ipLines(vpc, ...args);
  const rules = async () => [...(await ip('-4', 'rule', 'show')), ...(await ip('-6', 'rule', 'show'))];
  /** ec2net's state for eth1 with its secondary addresses `secondaries`, and the foreign rule, as `ip` shows them. */
  const assertInPlace = async (when: string, secondaries: string[]) => {
    const r = await rules();
    for (const src of ['10.0.2.10', '10.0.2.48/28', '2001:db8:2::11', '2001:db8:2:0:1234::/80']) {
      assert.ok(r.includes(`10001: from ${src} lookup 10001 proto 236`), `${when}: rule for ${src}: ${r.join(' | ')}`);
    }
    assert.ok(r.includes(FOREIGN_RULE), `${when}: the foreign rule: ${r.join(' | ')}`);
    const table4 = await ip('-4', 'route', 'show', 'table', '10001');
    assert.ok(table4.some((l) => l.startsWith('default via 10.0.2.1 dev eth1 proto 236')), `${when}: ${table4.join(' | ')}`);
    const table6 = await ip('-6', 'route', 'show', 'table', '10001');
    assert.ok(table6.some((l) => l.startsWith(`default via ${vpc.gateway6('d2')} dev eth1 proto 236`)), `${when}: ${table6.join(' | ')}`);
    const addrs = (await ip('addr', 'show', 'dev', 'eth1')).join(' | ');
    for (const a of secondaries) assert.ok(addrs.includes(`${a}/${a.includes(':') ? 128 : 32}`), `${when}: ${a}: ${addrs}`);
    const failed = (await reach(vpc, [...everyAddress([N0, N2]), '10.0.2.10', '2001:db8:2::10', ...secondaries])).failed;
    assert.deepEqual(failed, [], `${when}: unreachable`);
  };

  before(async () => {
    vpc = await Vpc.create({ subnets: DUAL_SUBNETS.slice(0, 2) });
    await vpc.attach(N0);
    root = newRoot({ ifcfgDir: false });
    nm = await NetworkManager.start(vpc, { runDir: `${root}/run/NetworkManager`, profiles: { 'cloud-init-eth0.nmconnection': CLOUD_INIT_ETH0 } });
    // At boot NetworkManager activates the image's profile; here eth0 was configured before it started, which it
    // takes as "connected (externally)" until told.
    await nm.must(['connection', 'up', 'cloud-init eth0']);
    await vpc.attach(N1);
    await vpc.attach(N2);
    await nm.waitConnected('eth1', 'Wired connection 1');
    await nm.waitConnected('eth2');
    await ip('rule', 'add', 'from', '10.0.9.0/24', 'lookup', '100', 'priority', '1000', 'proto', 'static');
  });
  after(async () => {
    await nm?.stop();
    await vpc?.destroy();
  });

  test('two ENIs: after ec2ifscan every address is reachable, the primary\'s included; the profiles are what NetworkManager runs', async () => {
    const before = await reach(vpc, everyAddress([N1, N2]));
    assert.ok(before.failed.length > 0, 'before the agent, the source check drops replies');
    const scan = await run('ec2ifscan');
    assert.equal(scan.code, 0, `ec2ifscan: ${scan.stderr}\n--- NetworkManager ---\n${nm.log().split('\n').filter((l) => /eth1|eth2/.test(l) && !/<debug>|<trace>/.test(l)).slice(-80).join('\n')}`);
    assert.equal((await nm.device('eth1'))?.connection, 'ec2net eth1');
    assert.equal((await nm.device('eth2'))?.connection, 'ec2net eth2');
    assert.ok(existsSync(`${root}/${PROFILE1}`));
    assert.ok((await ip('link', 'show', 'eth1')).some((l) => l.includes('mtu 9001')), 'the DHCP-supplied MTU');
    // NetworkManager's DHCP and RA routes at the profile's route-metric (512 + device-number), behind the
    // primary's 100 (nm-settings-nmcli(5), ipv4.route-metric; the ethernet default is 100).
    const main4 = await ip('-4', 'route', 'show', 'default');
    assert.ok(main4.some((l) => l.includes('dev eth0 proto dhcp') && l.includes('metric 100')), main4.join(' | '));
    assert.ok(main4.some((l) => l.includes('dev eth1 proto dhcp') && l.includes('metric 513')), main4.join(' | '));
    assert.ok(main4.some((l) => l.includes('dev eth2 proto dhcp') && l.includes('metric 514')), main4.join(' | '));
    // NetworkManager handles router advertisements itself (accept_ra off) and installs the default at the same metric.
    await eventually(async () => {
      const main6 = await ip('-6', 'route', 'show', 'default');
      assert.ok(main6.some((l) => l.includes('dev eth1 proto ra') && l.includes('metric 513')), main6.join(' | '));
    }, 10_000);
    assert.match((await vpc.exec('instance', ['ip', 'route', 'get', '198.51.100.10', 'from', '10.0.1.10'])).stdout, / dev eth0 /);
    await assertInPlace('after ec2ifscan', ['10.0.2.11', '10.0.2.12', '2001:db8:2::11']);
  });

  test('foreign rules and routes survive; IMDS adds and removes an address: applied without a reapply', async () => {
    await ip('route', 'add', '192.0.2.0/24', 'dev', 'eth1', 'proto', 'static');
    await ip('route', 'add', '198.18.0.0/24', 'dev', 'eth1', 'table', '10001', 'proto', 'static');
    await ip('route', 'add', '198.19.0.0/24', 'dev', 'eth1', 'table', '100', 'proto', 'static');
    const foreign = async (when: string) => {
      const routes = await ip('-4', 'route', 'show', 'table', 'all');
      for (const r of ['192.0.2.0/24 dev eth1 proto static', '198.18.0.0/24 dev eth1 table 10001 proto static', '198.19.0.0/24 dev eth1 table 100 proto static']) {
        assert.ok(routes.some((l) => l.startsWith(r)), `${when}: ${r} gone: ${routes.join(' | ')}`);
      }
    };
    await vpc.assignIpv4(N1.id, '10.0.2.13');
    await ok('ec2ifup', ['eth1']);
    assert.match(readFileSync(`${root}/${PROFILE1}`, 'utf8'), /^address3=10\.0\.2\.13\/32$/m);
    await assertInPlace('address added', ['10.0.2.11', '10.0.2.12', '10.0.2.13', '2001:db8:2::11']);
    await foreign('address added');
    await vpc.unassignIpv4(N1.id, '10.0.2.12');
    await ok('ec2ifup', ['eth1']);
    assert.doesNotMatch(readFileSync(`${root}/${PROFILE1}`, 'utf8'), /10\.0\.2\.12/);
    assert.ok(!(await ip('addr', 'show', 'dev', 'eth1')).join(' ').includes('10.0.2.12/'), 'the unassigned address is gone');
    assert.ok(!(await rules()).some((l) => l.includes('from 10.0.2.12 ')), 'and its rule');
    await foreign('address removed');
    assert.equal((await nm.device('eth1'))?.connection, 'ec2net eth1');
  });

  test('NetworkManager restarted: everything is still there', async () => {
    await nm.restart();
    await nm.waitConnected('eth1', 'ec2net eth1');
    await nm.waitConnected('eth2', 'ec2net eth2');
    // Through a DHCP renewal's worth of time after the restart: NetworkManager takes the device over again.
    await new Promise((r) => setTimeout(r, 3_000));
    await eventually(() => assertInPlace('after a restart of NetworkManager', ['10.0.2.11', '10.0.2.13', '2001:db8:2::11']), 10_000);
    const scan = await ok('ec2ifscan');
    assert.doesNotMatch(scan.stderr, /starting DHCP/, 'nothing to activate again');
  });

  test('a profile NetworkManager never loaded (a run ended between writing and loading it) is loaded by the next ec2ifup', async () => {
    const text = readFileSync(`${root}/${PROFILE2}`, 'utf8');
    // NetworkManager forgets the profile and removes its file; the file put back unloaded is what such a run leaves.
    await nm.must(['connection', 'delete', 'ec2net eth2']);
    writeFileSync(`${root}/${PROFILE2}`, text, { mode: 0o600 });
    assert.doesNotMatch(await nm.must(['-t', '-f', 'NAME', 'connection', 'show']), /ec2net eth2/);
    const r = await ok('ec2ifup', ['eth2']);
    assert.match(r.stderr, /starting DHCP/);
    await nm.waitConnected('eth2', 'ec2net eth2');
    assert.deepEqual((await reach(vpc, everyAddress([N0, N2]))).failed, []);
  });

  test('detach: the profile, the rules and the routes go; the foreign rule stays', async () => {
    await vpc.detach(N1.id);
    await ok('ec2net', ['cleanup']);
    assert.equal(existsSync(`${root}/${PROFILE1}`), false);
    const profiles = await nm.must(['-t', '-f', 'NAME', 'connection', 'show']);
    assert.doesNotMatch(profiles, /ec2net eth1/);
    const r = await rules();
    assert.ok(!r.some((l) => l.includes('lookup 10001')), r.join(' | '));
    assert.ok(r.includes(FOREIGN_RULE));
    assert.deepEqual(await ip('-4', 'route', 'show', 'table', '10001'), []);
    assert.deepEqual((await reach(vpc, everyAddress([N0, N2]))).failed, []);
  });
  /** The rules for `table` and the table's routes in `families` (the kernel has no IPv6 table an IPv4-only ENI never used). */
  const tableState = async (table: number, families = ['-4', '-6']) => ({
    rules: (await rules()).filter((l) => l.includes(`lookup ${table} `)),
    routes: (await Promise.all(families.map((f) => ip(f, 'route', 'show', 'table', String(table))))).flat(),
  });

  test('the design\'s two facts: reapply deletes a foreign main-table route; rules and table routes survive load and restart', async () => {
    // nmcli(1), "device reapply": it updates the device with the connection's current settings, and NetworkManager
    // 1.42 then removes from the device the main-table routes the profile does not list, an admin's included.
    // So ec2net never reapplies; it loads the profile and applies the difference to the kernel itself.
    await ip('route', 'add', '192.0.2.0/24', 'dev', 'eth2', 'proto', 'static');
    await nm.must(['device', 'reapply', 'eth2']);
    await eventually(async () => {
      const main = await ip('-4', 'route', 'show', 'table', 'main');
      assert.ok(!main.some((l) => l.startsWith('192.0.2.0/24 dev eth2')), `the foreign route is still there: ${main.join(' | ')}`);
    }, 10_000);
    const ours = await tableState(10002, ['-4']);
    assert.deepEqual(ours.rules.sort(), ['10002: from 10.0.1.20 lookup 10002 proto 236', '10002: from 10.0.1.21 lookup 10002 proto 236']);
    assert.ok(ours.routes.some((l) => l.startsWith('default via 10.0.1.1 dev eth2 proto 236')), ours.routes.join(' | '));
    // The profile handed over again (as ec2net does after a change), then NetworkManager restarted: NetworkManager
    // 1.42 leaves rules alone and the routes in tables other than main that it did not add.
    await nm.must(['connection', 'load', `/${PROFILE2}`]);
    await nm.restart();
    await nm.waitConnected('eth2', 'ec2net eth2');
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await tableState(10002, ['-4']);
    assert.deepEqual(after.rules.sort(), ours.rules);
    assert.deepEqual(after.routes.sort(), [...ours.routes].sort());
    assert.deepEqual((await reach(vpc, everyAddress([N0, N2]))).failed, []);
  });

  test("a rule in a profile's ipv4.routing-rules carries NetworkManager's protocol, never ec2net's: so ec2net installs its rules itself", async () => {
    // nm-settings-nmcli(5), ipv4.routing-rules: "A comma separated list of routing rules for policy routing" in
    // ip-rule's syntax. The question the design needed answered: which protocol the kernel shows for such a rule.
    // ec2net's drift repair, cleanup and ownership all key on protocol 236.
    const before = await rules();
    await nm.must(['connection', 'modify', 'cloud-init eth0', '+ipv4.routing-rules', 'priority 5000 from 10.0.9.9 table 300']);
    await nm.must(['device', 'reapply', 'eth0']);
    try {
      let added = '';
      await eventually(async () => {
        const now = (await rules()).filter((l) => l.startsWith('5000: from 10.0.9.9 lookup 300'));
        assert.equal(now.length, 1, `the profile's rule: ${(await rules()).join(' | ')}`);
        added = now[0] as string;
      }, 10_000);
      // NetworkManager 1.42 shows it as `proto static`.
      assert.doesNotMatch(added, /proto 236/, added);
      // Rules ec2net and others put there stay: NetworkManager adds its own beside them.
      for (const l of before) assert.ok((await rules()).includes(l), `${l} went`);
    } finally {
      await nm.must(['connection', 'modify', 'cloud-init eth0', '-ipv4.routing-rules', 'priority 5000 from 10.0.9.9 table 300']);
      await nm.must(['device', 'reapply', 'eth0']);
    }
    await eventually(async () => assert.ok(!(await rules()).some((l) => l.startsWith('5000: from 10.0.9.9')), 'the profile\'s rule goes with it'), 10_000);
    // The primary's reapply renews its IPv6 address (DHCPv6 and duplicate address detection) before it answers.
    await eventually(async () => assert.deepEqual((await reach(vpc, everyAddress([N0, N2]))).failed, []), 20_000, 500);
  });

  test('ec2netd: an ENI attached while it runs is configured through NetworkManager; detached, its profile, rules and routes go', async () => {
    // The daemon runs where NetworkManager's private /run and system bus are, as nmcli needs.
    const daemon = startDaemon(vpc, root, {}, (argv) => nm.enter(argv));
    try {
      await daemon.waitFor((r) => r.msg === 'ready', 60_000);
      await vpc.attach(N3);
      await eventually(async () => assert.deepEqual((await reach(vpc, everyAddress([N3]))).failed, []), 60_000);
      assert.equal((await nm.device('eth3'))?.connection, 'ec2net eth3');
      assert.ok(existsSync(`${root}/${PROFILE3}`));
      const ours = await tableState(10003);
      assert.equal(ours.rules.length, everyAddress([N3]).length, ours.rules.join(' | '));
      assert.ok(ours.routes.some((l) => l.startsWith('default via 10.0.2.1 dev eth3 proto 236')), ours.routes.join(' | '));
      assert.deepEqual((await reach(vpc, everyAddress([N0, N2]))).failed, []);
      await vpc.detach(N3.id);
      await eventually(async () => {
        assert.equal(existsSync(`${root}/${PROFILE3}`), false, 'the profile');
        assert.deepEqual(await tableState(10003), { rules: [], routes: [] });
      }, 30_000);
      assert.doesNotMatch(await nm.must(['-t', '-f', 'NAME', 'connection', 'show']), /ec2net eth3/);
      assert.ok((await rules()).includes(FOREIGN_RULE));
      assert.deepEqual((await reach(vpc, everyAddress([N0, N2]))).failed, []);
    } finally {
      await daemon.kill('SIGTERM');
    }
  });
});
