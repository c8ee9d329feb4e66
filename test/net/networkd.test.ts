/**
 * Issue 4, networkd backend: the agent against a real systemd-networkd 252 running in the instance namespace
 * with private directories (test/vpc/networkd.ts). The backend is detected (networkd's state file), the units go
 * to EC2NET_ROOT/run/systemd/network, which networkd sees as /run/systemd/network, and networkd reads the
 * networkd.conf drop-in the package installs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Vpc, type EniSpec } from '../vpc/vpc.js';
import { Networkd } from '../vpc/networkd.js';
import { DUAL_SUBNETS, agentIn, agentVia, eventually, everyAddress, ipLines, newRoot, reach, succeeded } from '../support/agent.js';

const PACKAGED_DROPIN = fileURLToPath(new URL('../../../packaging/networkd.conf.d/ec2net.conf', import.meta.url));
const SUBNETS = DUAL_SUBNETS.slice(0, 2);
const N0: EniSpec = { id: 'eni-0000000000000d000', mac: '02:ec:00:00:03:10', ifname: 'eth0', subnet: 'd1', deviceNumber: 0, ipv4s: ['10.0.1.10'], ipv6s: ['2001:db8:1::10'] };
const N1: EniSpec = {
  id: 'eni-0000000000000d001',
  mac: '02:ec:00:00:03:11',
  ifname: 'eth1',
  subnet: 'd2',
  deviceNumber: 1,
  ipv4s: ['10.0.2.10', '10.0.2.11', '10.0.2.12'],
  ipv4Prefixes: ['10.0.2.48/28'],
  ipv6s: ['2001:db8:2::10', '2001:db8:2::11'],
  ipv6Prefixes: ['2001:db8:2:0:1234::/80'],
};
/** In the primary's subnet; a netplan-style file for it sorts before ec2net's unit. */
const N2: EniSpec = { id: 'eni-0000000000000d002', mac: '02:ec:00:00:03:12', ifname: 'eth2', subnet: 'd1', deviceNumber: 2, ipv4s: ['10.0.1.20', '10.0.1.21'], ipv6s: ['2001:db8:1::20', '2001:db8:1::21'] };
const NETPLAN_ETH2 = '10-netplan-eth2.network';
// netplan matches by PermanentMACAddress= on real NICs; a veth has no permanent address, so MACAddress= here.
const NETPLAN = `[Match]\nMACAddress=${N2.mac}\nName=eth2\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\n\n[DHCPv4]\nRouteMetric=100\nUseMTU=true\n`;
const FOREIGN_RULE = '1000: from 10.0.9.0/24 lookup 100 proto static';
const FOREIGN_ROUTE = '192.0.2.0/24 dev eth1 proto static';
const FOREIGN_ROUTE_TABLE = 'table 10001';

describe('networkd backend against a real systemd-networkd', () => {
  let vpc: Vpc;
  let nd: Networkd;
  let root: string;

  const { run, ok } = agentVia(() => ({ exec: (argv, o) => nd.exec(argv, o), vpc, root }));
  const ip = (...args: string[]) => ipLines(vpc, ...args);

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    // The image's own networkd config gives the primary ENI's RA default route metric 512 (the numbering's
    // 512 + 100 x 0 + 0), as on Amazon Linux 2023; the secondaries' 513 and 514 then rank behind it.
    const sysctl = await vpc.exec('instance', ['sysctl', '-q', '-w', 'net.ipv6.conf.default.ra_defrtr_metric=512']);
    assert.equal(sysctl.code, 0, sysctl.stderr);
    await vpc.attach(N0);
    root = newRoot();
    for (const d of ['run/systemd/network', 'etc/systemd/network']) mkdirSync(`${root}/${d}`, { recursive: true });
    // networkd and the agent both see this directory as /etc/systemd/network (bound below).
    writeFileSync(`${root}/etc/systemd/network/${NETPLAN_ETH2}`, NETPLAN);
    // Detection looks for networkd's state file under EC2NET_ROOT; inside the harness's mounts this is networkd's own.
    symlinkSync('/run/systemd/netif', `${root}/run/systemd/netif`);
    nd = await Networkd.start(vpc, {
      networkDir: `${root}/run/systemd/network`,
      confDropins: { 'ec2net.conf': readFileSync(PACKAGED_DROPIN, 'utf8') },
      binds: { '/etc/systemd/network': `${root}/etc/systemd/network` },
    });
    await vpc.attach(N1);
    await vpc.attach(N2);
    await nd.waitForSetup('eth2', 'configured');
    await eventually(async () => assert.notDeepEqual(await ip('-6', 'route', 'show', 'default', 'dev', 'eth0'), []), 10_000);
    await ip('rule', 'add', 'from', '10.0.9.0/24', 'lookup', '100', 'priority', '1000', 'proto', 'static');
  });
  after(async () => {
    await nd?.stop();
    await vpc?.destroy();
  });

  test('(a) dual-stack: after ec2ifscan every IPv4 and IPv6 address of every secondary ENI is reachable', async () => {
    const r0 = await reach(vpc, everyAddress([N1, N2]));
    assert.ok(r0.failed.length > 0, 'before the agent, the source check drops replies');
    const scan = await run('ec2ifscan');
    if (scan.code !== 0) {
      // What networkd and dnsmasq made of the DHCP exchange, for a failure that has been seen and not explained.
      const networkd = nd
        .log()
        .split('\n')
        .filter((l) => /eth1/.test(l) && !/NDISC|NDisc|SLAAC|DHCPv6|link_check_ready/.test(l))
        .slice(-120)
        .join('\n');
      assert.fail(`ec2ifscan exited ${scan.code}: ${scan.stderr}\n--- networkd (eth1, DHCP) ---\n${networkd}\n--- dnsmasq ---\n${vpc.dhcpLog().slice(-6000)}`);
    }
    const r = await reach(vpc, everyAddress([N0, N1, N2]));
    assert.deepEqual(r.failed, [], `unreachable: ${r.failed.join(', ')}; scan log: ${scan.stderr}`);
  });

  test('(a) the unit is the one networkd uses: DHCP MTU, main metric 513 from DHCP, table routes and addresses', async () => {
    const unit = `${root}/run/systemd/network/70-ec2net-eth1.network`;
    assert.ok(existsSync(unit));
    const status = await nd.status('eth1');
    assert.equal(status.networkFile, '/run/systemd/network/70-ec2net-eth1.network', status.text);
    assert.equal(status.setup, 'configured', status.text);
    assert.ok((await ip('link', 'show', 'eth1')).some((l) => l.includes('mtu 9001')), 'the DHCP-supplied MTU');
    const main = await ip('-4', 'route', 'show', 'default');
    assert.ok(main.some((l) => l.includes('dev eth1 proto dhcp') && l.includes('metric 513')), main.join(' | '));
    const table4 = await ip('-4', 'route', 'show', 'table', '10001');
    assert.ok(table4.some((l) => l.startsWith('default via 10.0.2.1 dev eth1 proto 236')), table4.join(' | '));
    const table6 = await ip('-6', 'route', 'show', 'table', '10001');
    assert.ok(table6.some((l) => l.startsWith(`default via ${vpc.gateway6('d2')} dev eth1 proto 236`)), table6.join(' | '));
    const rules = [...(await ip('-4', 'rule', 'show')), ...(await ip('-6', 'rule', 'show'))];
    for (const src of ['10.0.2.10', '10.0.2.48/28', '2001:db8:2::11', '2001:db8:2:0:1234::/80']) {
      assert.ok(rules.includes(`10001: from ${src} lookup 10001 proto 236`), `${src}: ${rules.join(' | ')}`);
    }
  });

  test('(e) a netplan-style lower-numbered file for eth2: the settings go in a drop-in beside it and take effect', async () => {
    const dropin = `${root}/run/systemd/network/${NETPLAN_ETH2}.d/70-ec2net.conf`;
    assert.ok(existsSync(dropin), 'the drop-in is written');
    assert.equal(existsSync(`${root}/run/systemd/network/70-ec2net-eth2.network`), false, 'no unit that networkd would ignore');
    const status = await nd.status('eth2');
    assert.equal(status.networkFile, `/etc/systemd/network/${NETPLAN_ETH2}`, status.text);
    // The drop-in's RouteMetric (512 + device 2) replaces netplan's 100: networkd applied our settings.
    const main = await ip('-4', 'route', 'show', 'default');
    assert.ok(main.some((l) => l.includes('dev eth2 proto dhcp') && l.includes('metric 514')), main.join(' | '));
    assert.deepEqual((await reach(vpc, everyAddress([N2]))).failed, []);
  });

  test('(e) a foreign rule and foreign routes survive the reload of a changed unit; rules survive a reconfigure', async () => {
    // Link routes: a route via the DHCP gateway would go with the DHCP address while networkd renews it (the
    // kernel's doing, not networkd's).
    await ip('route', 'add', '192.0.2.0/24', 'dev', 'eth1', 'proto', 'static');
    await ip('route', 'add', '198.18.0.0/24', 'dev', 'eth1', 'table', '10001', 'proto', 'static');
    const foreignSurvives = async (after: string) => {
      const rules = await ip('rule', 'show');
      assert.ok(rules.includes(FOREIGN_RULE), `${after}: foreign rule gone: ${rules.join(' | ')}`);
      const routes = await ip('-4', 'route', 'show', 'table', 'all');
      assert.ok(routes.some((l) => l.startsWith(FOREIGN_ROUTE)), `${after}: foreign main route gone: ${routes.join(' | ')}`);
      assert.ok(routes.some((l) => l.startsWith('198.18.0.0/24') && l.includes(FOREIGN_ROUTE_TABLE)), `${after}: foreign route in table 10001 gone: ${routes.join(' | ')}`);
      // ec2net's own rules are foreign to networkd too.
      assert.ok(rules.includes('10001: from 10.0.2.10 lookup 10001 proto 236'), `${after}: ${rules.join(' | ')}`);
    };
    // A new secondary address: the agent rewrites the unit and has networkd reload it, which reconfigures eth1.
    await vpc.assignIpv4(N1.id, '10.0.2.13');
    const since = nd.mark();
    await ok('ec2ifup', ['eth1']);
    assert.ok(nd.log(since).includes('eth1: Reconfiguring with /run/systemd/network/70-ec2net-eth1.network'), 'the reload reconfigured eth1');
    await nd.waitForSetup('eth1', 'configured');
    await foreignSurvives('reload');
    assert.deepEqual((await reach(vpc, [...everyAddress([N1]), '10.0.2.13'])).failed, []);

    // An explicit reconfigure drops every address for a moment, and the kernel flushes the routes of a device
    // that has no IPv4 address left (networkd logs no removal): rules, which belong to no device, stay.
    await nd.reconfigure('eth1');
    await nd.waitForSetup('eth1', 'configured');
    const rules = await ip('rule', 'show');
    assert.ok(rules.includes(FOREIGN_RULE) && rules.includes('10001: from 10.0.2.10 lookup 10001 proto 236'), rules.join(' | '));
    await ok('ec2ifup', ['eth1']);
    assert.deepEqual((await reach(vpc, [...everyAddress([N1]), '10.0.2.13'])).failed, []);
  });

  test('detach: the unit and the drop-in go, rules and tables go, netplan\'s file stays', async () => {
    await vpc.detach(N1.id);
    await vpc.detach(N2.id);
    await ok('ec2net', ['cleanup']);
    assert.equal(existsSync(`${root}/run/systemd/network/70-ec2net-eth1.network`), false);
    assert.equal(existsSync(`${root}/run/systemd/network/${NETPLAN_ETH2}.d/70-ec2net.conf`), false);
    assert.ok(existsSync(`${root}/etc/systemd/network/${NETPLAN_ETH2}`));
    const rules = [...(await ip('-4', 'rule', 'show')), ...(await ip('-6', 'rule', 'show'))];
    assert.ok(!rules.some((l) => l.includes('proto 236')), rules.join(' | '));
    assert.ok(rules.includes(FOREIGN_RULE));
  });
});

/**
 * Issue 14 item 1: the primary ENI's main-table routes win whatever metric the image gave them. The primary's
 * routes are laid down as each image's network config leaves them: 1024 (systemd.network(5): DHCPv4 routes get
 * RouteMetric 1024 unless set, as from Amazon Linux 2023's catch-all file), 100 (netplan's RouteMetric=100, as on
 * Ubuntu), and 0 (dhclient-script, ifupdown). A secondary in the primary's own subnet and one in another subnet.
 */
describe('networkd backend: the primary stays reachable whatever metric its routes have', () => {
  const P: EniSpec = { id: 'eni-0000000000000e000', mac: '02:ec:00:00:04:10', ifname: 'eth0', subnet: 's1', deviceNumber: 0, ipv4s: ['10.0.1.10'] };
  const SAME: EniSpec = { id: 'eni-0000000000000e001', mac: '02:ec:00:00:04:11', ifname: 'eth1', subnet: 's1', deviceNumber: 1, ipv4s: ['10.0.1.20', '10.0.1.21'] };
  const OTHER: EniSpec = { id: 'eni-0000000000000e002', mac: '02:ec:00:00:04:12', ifname: 'eth2', subnet: 's2', deviceNumber: 2, ipv4s: ['10.0.2.20'] };
  const IPV4_SUBNETS = [
    { name: 's1', cidr: '10.0.1.0/24' },
    { name: 's2', cidr: '10.0.2.0/24' },
  ];

  // The primary configured by a real networkd, as images do it.
  const IMAGES = [
    {
      what: "Amazon Linux 2023's catch-all (80-ec2.network: Name=eth*, DHCP at networkd's default 1024), sorting after ec2net's units",
      file: '80-ec2.network',
      content: '[Match]\nName=eth*\n\n[Network]\nDHCP=yes\n',
      metric: 1024,
      catchAll: true,
      unit: '70-ec2net-eth1.network',
    },
    {
      what: "a catch-all that sorts before ec2net's units (Name=eth*, 1024): ec2net's unit sorts before it, no drop-in",
      file: '10-all-eth.network',
      content: '[Match]\nName=eth*\n\n[Network]\nDHCP=ipv4\n',
      metric: 1024,
      catchAll: true,
      unit: '10-all-eth-ec2net-eth1.network',
    },
    {
      what: "netplan's file for the primary alone (MACAddress=, RouteMetric=100, as on Ubuntu)",
      file: '10-netplan-eth0.network',
      content: `[Match]\nMACAddress=${P.mac}\nName=eth0\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nRouteMetric=100\n`,
      metric: 100,
      catchAll: false,
      unit: '70-ec2net-eth1.network',
    },
    {
      what: "a file for the primary with networkd's bare defaults (DHCP, metric 1024)",
      file: '20-eth0.network',
      content: '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n',
      metric: 1024,
      catchAll: false,
      unit: '70-ec2net-eth1.network',
    },
  ];

  for (const image of IMAGES) {
    test(`real networkd, ${image.what}: every address answers, replies from the primary leave by eth0, nothing of a secondary reaches eth0`, async () => {
      const vpc = await Vpc.create({ subnets: IPV4_SUBNETS });
      let nd: Networkd | undefined;
      try {
        await vpc.attach(P);
        const root = newRoot();
        mkdirSync(`${root}/run/systemd/network`, { recursive: true });
        symlinkSync('/run/systemd/netif', `${root}/run/systemd/netif`);
        // networkd and the agent both see this directory as /etc/systemd/network (bound below).
        mkdirSync(`${root}/etc/systemd/network`, { recursive: true });
        writeFileSync(`${root}/etc/systemd/network/${image.file}`, image.content);
        nd = await Networkd.start(vpc, {
          networkDir: `${root}/run/systemd/network`,
          confDropins: { 'ec2net.conf': readFileSync(PACKAGED_DROPIN, 'utf8') },
          binds: { '/etc/systemd/network': `${root}/etc/systemd/network` },
        });
        await nd.waitForSetup('eth0', 'configured');
        // The primary's routes as networkd leaves its lease: the simulated boot's static default at 0 goes, and the
        // subnet route of the address (which networkd found in place) moves to the lease's metric, as networkd's own.
        for (const cmd of [['route', 'del', 'default', 'via', '10.0.1.1', 'dev', 'eth0', 'metric', '0'], ['addr', 'replace', '10.0.1.10/24', 'dev', 'eth0', 'metric', String(image.metric)]]) {
          const r = await vpc.exec('instance', ['ip', ...cmd]);
          assert.equal(r.code, 0, r.stderr);
        }
        const primaryRoutes = (await vpc.exec('instance', ['ip', '-4', 'route', 'show', 'dev', 'eth0'])).stdout;
        assert.match(primaryRoutes, new RegExp(`default via 10\\.0\\.1\\.1 proto dhcp .*metric ${image.metric}`), primaryRoutes);
        await vpc.attach(SAME);
        await vpc.attach(OTHER);
        // A catch-all configures the secondaries before ec2net does.
        if (image.catchAll) await nd.waitForSetup('eth1', 'configured');
        const harness = nd;
        succeeded(await agentIn((argv, o) => harness.exec(argv, o), vpc, root, 'ec2ifscan', []), 'ec2ifscan');
        assert.equal((await nd.status('eth1')).networkFile, `/run/systemd/network/${image.unit}`);
        assert.equal((await nd.status('eth0')).networkFile, `/etc/systemd/network/${image.file}`);
        assert.equal(existsSync(`${root}/run/systemd/network/${image.file}.d`), false, "no drop-in into the primary's file");
        const eth0 = (await vpc.exec('instance', ['ip', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout;
        assert.doesNotMatch(eth0, /10\.0\.1\.2\d|10\.0\.2\./, "no secondary's address on the primary");
        assert.deepEqual((await reach(vpc, [...P.ipv4s, ...SAME.ipv4s, ...OTHER.ipv4s])).failed, []);
        const main = (await vpc.exec('instance', ['ip', '-4', 'route', 'show', 'table', 'main'])).stdout;
        assert.match((await vpc.exec('instance', ['ip', 'route', 'get', '198.51.100.10', 'from', '10.0.1.10'])).stdout, / dev eth0 /, main);
        assert.match((await vpc.exec('instance', ['ip', 'route', 'get', '10.0.1.99', 'from', '10.0.1.10'])).stdout, / dev eth0 /, main);
        assert.match(main, new RegExp(`default via 10\\.0\\.1\\.1 dev eth1 proto dhcp src 10\\.0\\.1\\.20 metric ${Math.max(512, image.metric) + 1}\\b`), main);
      } finally {
        await nd?.stop();
        await vpc.destroy();
      }
    });
  }

  for (const metric of [1024, 100, 0]) {
    test(`primary's routes at metric ${metric}: after ec2ifscan the primary and every secondary address answer; replies from the primary leave by eth0`, async () => {
      const vpc = await Vpc.create({ subnets: IPV4_SUBNETS });
      let nd: Networkd | undefined;
      try {
        await vpc.attach({ ...P, ...(metric > 0 ? { routeMetric: metric } : {}) });
        const root = newRoot();
        mkdirSync(`${root}/run/systemd/network`, { recursive: true });
        symlinkSync('/run/systemd/netif', `${root}/run/systemd/netif`);
        nd = await Networkd.start(vpc, { networkDir: `${root}/run/systemd/network`, confDropins: { 'ec2net.conf': readFileSync(PACKAGED_DROPIN, 'utf8') } });
        await vpc.attach(SAME);
        await vpc.attach(OTHER);
        const harness = nd;
        succeeded(await agentIn((argv, o) => harness.exec(argv, o), vpc, root, 'ec2ifscan', []), 'ec2ifscan');
        const r = await reach(vpc, [...P.ipv4s, ...SAME.ipv4s, ...OTHER.ipv4s]);
        assert.deepEqual(r.failed, [], `unreachable: ${r.failed.join(', ')}`);
        const routeGet = async (dst: string) => (await vpc.exec('instance', ['ip', 'route', 'get', dst, 'from', P.ipv4s[0] as string])).stdout;
        assert.match(await routeGet('198.51.100.10'), / dev eth0 /, 'off-subnet replies from the primary');
        assert.match(await routeGet('10.0.1.99'), / dev eth0 /, 'on-subnet replies from the primary');
        // The secondaries' main-table routes rank behind: 100×C + D above 512, or above the primary's metric.
        const main = (await vpc.exec('instance', ['ip', '-4', 'route', 'show', 'table', 'main'])).stdout;
        const want = Math.max(512, metric);
        assert.match(main, new RegExp(`default via 10\\.0\\.1\\.1 dev eth1 proto dhcp src 10\\.0\\.1\\.20 metric ${want + 1}\\b`), main);
        assert.match(main, new RegExp(`10\\.0\\.1\\.0/24 dev eth1 proto kernel scope link src 10\\.0\\.1\\.20 metric ${want + 1}\\b`), main);
        assert.match(main, new RegExp(`default via 10\\.0\\.2\\.1 dev eth2 proto dhcp src 10\\.0\\.2\\.20 metric ${want + 2}\\b`), main);
      } finally {
        await nd?.stop();
        await vpc.destroy();
      }
    });
  }
});
