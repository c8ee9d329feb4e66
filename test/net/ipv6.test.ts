/**
 * Issue 4 in the simulated VPC, ifcfg backend: dual-stack and IPv6-only subnets, delegated IPv4 and IPv6
 * prefixes, multi-card numbering, and IMDS over [fd00:ec2::254]. "Reachable" means a TCP connection from the
 * remote host to the address succeeds; the VPC's source check drops anything that leaves by the wrong ENI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Vpc, type EniSpec } from '../vpc/vpc.js';
import { DUAL_SUBNETS, agent, succeeded, commandArgv, eventually, newRoot, prefixAddresses, reach } from '../support/agent.js';

/** The kernel solicits a router about a second after link up, once its link-local address has passed DAD. */
const RA_WAIT_MS = 10_000;

const P0: EniSpec = { id: 'eni-0000000000000b000', mac: '02:ec:00:00:01:10', ifname: 'eth0', subnet: 'd1', deviceNumber: 0, ipv4s: ['10.0.1.10'], ipv6s: ['2001:db8:1::10'] };
const P1: EniSpec = {
  id: 'eni-0000000000000b001',
  mac: '02:ec:00:00:01:11',
  ifname: 'eth1',
  subnet: 'd2',
  deviceNumber: 1,
  ipv4s: ['10.0.2.10', '10.0.2.11'],
  ipv4Prefixes: ['10.0.2.48/28'],
  ipv6s: ['2001:db8:2::10', '2001:db8:2::11', '2001:db8:2::12'],
  ipv6Prefixes: ['2001:db8:2:0:1234::/80'],
};
/** Same subnet as the primary: asymmetric routing is the normal case. */
const P2: EniSpec = { id: 'eni-0000000000000b002', mac: '02:ec:00:00:01:12', ifname: 'eth2', subnet: 'd1', deviceNumber: 2, ipv4s: ['10.0.1.20'], ipv6s: ['2001:db8:1::20', '2001:db8:1::21'] };
/** IPv6-only subnet: IMDS lists one 169.254 address and no IPv4 subnet block. */
const P3: EniSpec = { id: 'eni-0000000000000b003', mac: '02:ec:00:00:01:13', ifname: 'eth3', subnet: 'o6', deviceNumber: 3, ipv4s: ['169.254.0.13'], ipv6s: ['2001:db8:3::13', '2001:db8:3::14'] };

async function lines(vpc: Vpc, args: string[]): Promise<string[]> {
  const r = await vpc.exec('instance', ['ip', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '');
}

describe('IPv6, prefixes and IPv6-only subnets (ifcfg backend)', () => {
  let vpc: Vpc;
  let root: string;
  const ok = async (cmd: Parameters<typeof agent>[2], args: string[] = []) => succeeded(await agent(vpc, root, cmd, args), `${cmd} ${args.join(' ')}`);

  before(async () => {
    vpc = await Vpc.create({ subnets: DUAL_SUBNETS });
    for (const eni of [P0, P1, P2, P3]) await vpc.attach(eni);
    root = newRoot();
    // The admin turns prefix provisioning on for eth1, as with ec2-net-utils.
    mkdirSync(`${root}/etc/sysconfig/network-scripts`, { recursive: true });
    writeFileSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth1`, 'DEVICE=eth1\nEC2PROVISIONPFXIPS=yes\n');
    // A booted instance: the primary's IPv6 default route has come by RA.
    await eventually(async () => assert.notDeepEqual(await lines(vpc, ['-6', 'route', 'show', 'default', 'dev', 'eth0']), []), RA_WAIT_MS);
  });
  after(async () => vpc?.destroy());

  test('before the agent runs, only the primary answers (the check bites on IPv6 too)', async () => {
    const r = await reach(vpc, [...P0.ipv4s, ...(P0.ipv6s ?? []), ...P1.ipv6s!, ...P2.ipv6s!]);
    assert.deepEqual(r.failed.sort(), [...P1.ipv6s!, ...P2.ipv6s!].sort());
  });

  test('(a) dual-stack: after ec2ifscan every IPv4 and IPv6 address of every ENI is reachable', async () => {
    await ok('ec2ifscan');
    const all = [P0, P1, P2, P3].flatMap((e) => [...(e.subnet === 'o6' ? [] : e.ipv4s), ...(e.ipv6s ?? [])]);
    const r = await reach(vpc, all);
    assert.deepEqual(r.failed, [], `unreachable: ${r.failed.join(', ')}`);
    // Every ipv6s address is on its interface, not only the one DHCPv6 would hand out.
    const eth1 = await lines(vpc, ['-6', 'addr', 'show', 'dev', 'eth1', 'scope', 'global']);
    for (const ip of P1.ipv6s!) assert.ok(eth1.some((l) => l.startsWith(`inet6 ${ip}/128`)), `${ip} on eth1: ${eth1.join(' | ')}`);
    // The ones ec2net added carry noprefixroute: no main-table route each (the one DHCPv6 added may have one).
    const added = P1.ipv6s!.filter((ip) => eth1.some((l) => l.startsWith(`inet6 ${ip}/128`) && l.includes('noprefixroute')));
    assert.ok(added.length >= P1.ipv6s!.length - 1, eth1.join(' | '));
    const main = await lines(vpc, ['-6', 'route', 'show', 'table', 'main', 'dev', 'eth1']);
    for (const ip of added) assert.ok(!main.some((l) => l.startsWith(`${ip} `)), `${ip}: ${main.join(' | ')}`);
  });

  test('(a) the IPv6 rules, the table default via the RA router, and route6-IF', async () => {
    const rules = await lines(vpc, ['-6', 'rule', 'show']);
    for (const src of [...P1.ipv6s!.map((a) => `${a}`), '2001:db8:2:0:1234::/80']) {
      assert.ok(rules.includes(`10001: from ${src} lookup 10001 proto 236`), `rule for ${src}: ${rules.join(' | ')}`);
    }
    const table = await lines(vpc, ['-6', 'route', 'show', 'table', '10001']);
    const gw = vpc.gateway6('d2');
    assert.ok(table.some((l) => l.startsWith(`default via ${gw} dev eth1 proto 236`)), table.join(' | '));
    assert.ok(table.some((l) => l.startsWith('2001:db8:2::/64 dev eth1 proto 236')), table.join(' | '));
    assert.equal(readFileSync(`${root}/etc/sysconfig/network-scripts/route6-eth1`, 'utf8'), `default via ${gw} dev eth1 table 10001\n`);
    // The primary gets no source rules (docker0 containers reach it through the main table).
    assert.ok(!rules.some((l) => l.includes('2001:db8:1::10')));
    // The kernel's RA default for a secondary ENI ranks behind the primary's, like the IPv4 one.
    const main = await lines(vpc, ['-6', 'route', 'show', 'default']);
    assert.ok(main.some((l) => l.includes('dev eth1 proto ra') && l.includes('metric 10001')), main.join(' | '));
  });

  test('(b) IPv6-only subnet: its IPv6 addresses answer, and it has no IPv4 rules or routes', async () => {
    const r = await reach(vpc, P3.ipv6s!);
    assert.deepEqual(r.failed, []);
    const rules4 = await lines(vpc, ['-4', 'rule', 'show']);
    assert.ok(!rules4.some((l) => l.includes('lookup 10003')), rules4.join(' | '));
    const routes4 = await lines(vpc, ['-4', 'route', 'show', 'table', 'all']);
    assert.ok(!routes4.some((l) => l.includes('table 10003') || l.includes('dev eth3')), routes4.join(' | '));
    assert.ok((await lines(vpc, ['-6', 'rule', 'show'])).some((l) => l === '10003: from 2001:db8:3::13 lookup 10003 proto 236'));
    assert.deepEqual(await lines(vpc, ['-4', 'addr', 'show', 'dev', 'eth3', 'scope', 'global']), [], 'no DHCPv4 address in an IPv6-only subnet');
  });

  test('(b) IPv6-only with no IPv4 at all (local-ipv4s and subnet-ipv4-cidr-block answer 404): configured at once, its IPv6 addresses answer', async () => {
    // AWS EC2 User Guide, instance metadata categories, local-ipv4s: "If this is an IPv6-only network interface, this
    // item is not set and results in an HTTP 404 response."
    const P4: EniSpec = { id: 'eni-0000000000000b004', mac: '02:ec:00:00:01:14', ifname: 'eth4', subnet: 'o6', deviceNumber: 4, ipv4s: [], ipv6s: ['2001:db8:3::40', '2001:db8:3::41'] };
    await vpc.attach(P4);
    const t0 = Date.now();
    await ok('ec2ifup', ['eth4']);
    const took = Date.now() - t0;
    assert.ok(took < RA_WAIT_MS + 5_000, `ec2ifup took ${took} ms (an ENI taken for one still propagating waits out ~27 s and fails)`);
    assert.deepEqual((await reach(vpc, P4.ipv6s!)).failed, []);
    assert.ok((await lines(vpc, ['-6', 'rule', 'show'])).some((l) => l === '10004: from 2001:db8:3::41 lookup 10004 proto 236'));
    assert.ok(!(await lines(vpc, ['-4', 'rule', 'show'])).some((l) => l.includes('lookup 10004')));
  });

  test('(c) delegated /28 and /80 get rules; with EC2PROVISIONPFXIPS=yes all 16 IPv4 prefix addresses answer', async () => {
    assert.ok((await lines(vpc, ['-4', 'rule', 'show'])).includes('10001: from 10.0.2.48/28 lookup 10001 proto 236'));
    const r = await reach(vpc, prefixAddresses('10.0.2.48/28'));
    assert.deepEqual(r.failed, []);
    assert.equal(r.ok.length, 16);
    // An address of the /80 that an application puts on the interface answers through the prefix's rule.
    await vpc.exec('instance', ['ip', 'addr', 'add', '2001:db8:2:0:1234::7/128', 'dev', 'eth1', 'nodad']);
    assert.deepEqual((await reach(vpc, ['2001:db8:2:0:1234::7'])).failed, []);
  });

  test('an IPv6 address assigned later is configured, and one unassigned is removed', async () => {
    await vpc.assignIpv6(P2.id, '2001:db8:1::22');
    await ok('ec2ifup', ['eth2']);
    assert.deepEqual((await reach(vpc, ['2001:db8:1::22'])).failed, []);
    await vpc.unassignIpv6(P2.id, '2001:db8:1::21');
    await ok('ec2ifup', ['eth2']);
    const rules = await lines(vpc, ['-6', 'rule', 'show']);
    assert.ok(!rules.some((l) => l.includes('2001:db8:1::21')), rules.join(' | '));
    assert.ok(!(await lines(vpc, ['-6', 'addr', 'show', 'dev', 'eth2'])).some((l) => l.includes('2001:db8:1::21/')));
  });

  test('with the IPv4 IMDS endpoint unreachable, IMDS is used over [fd00:ec2::254]', async () => {
    await vpc.blockImdsV4(true);
    try {
      await vpc.assignIpv6(P2.id, '2001:db8:1::23');
      await ok('ec2ifup', ['eth2']);
      assert.deepEqual((await reach(vpc, ['2001:db8:1::23'])).failed, []);
    } finally {
      await vpc.blockImdsV4(false);
    }
  });

  test('ec2ifdown removes the IPv6 state too; the route6 file stays (down, not detached)', async () => {
    await ok('ec2ifdown', ['eth1']);
    assert.ok(!(await lines(vpc, ['-6', 'rule', 'show'])).some((l) => l.includes('lookup 10001')));
    assert.deepEqual(await lines(vpc, ['-6', 'route', 'show', 'table', '10001']), []);
    assert.ok(existsSync(`${root}/etc/sysconfig/network-scripts/route6-eth1`));
  });

  test('SET_HOSTNAME=yes: ec2net hostname names an unnamed instance after IMDS local-hostname; a named one keeps its name', async () => {
    mkdirSync(`${root}/etc/ec2net`, { recursive: true });
    writeFileSync(`${root}/etc/ec2net/ec2net.conf`, 'SET_HOSTNAME=yes\n');
    // Its own UTS namespace, so the name it sets is nobody else's.
    const scanWithHostname = async (initial: string) => {
      const script = 'hostname "$1" && shift && "$@" >/dev/null 2>&1; hostname';
      const r = await vpc.exec('instance', ['unshare', '--uts', 'sh', '-c', script, 'sh', initial, ...commandArgv('ec2net'), 'hostname'], {
        env: { EC2NET_ROOT: root, EC2NET_IMDS_URL: vpc.imdsUrl },
        timeoutMs: 120_000,
      });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.equal(await scanWithHostname('localhost'), 'ip-10-0-1-10.ec2.internal');
    assert.equal(readFileSync(`${root}/etc/hostname`, 'utf8'), 'ip-10-0-1-10.ec2.internal\n');
    assert.equal(await scanWithHostname('build-7'), 'build-7');
  });
});

describe('(d) multi-card numbering', () => {
  let vpc: Vpc;
  let root: string;
  after(async () => vpc?.destroy());

  test('cards 0 and 1 with equal device numbers: distinct tables, every address reachable, though network-card 404s at first', async () => {
    vpc = await Vpc.create({ subnets: DUAL_SUBNETS.slice(0, 2), multiCard: true });
    root = newRoot();
    const c0: EniSpec = { ...P0 };
    const c0d1: EniSpec = { id: 'eni-0000000000000c001', mac: '02:ec:00:00:02:11', ifname: 'eth1', subnet: 'd2', deviceNumber: 1, networkCard: 0, ipv4s: ['10.0.2.30'], ipv6s: ['2001:db8:2::30'] };
    const c1d1: EniSpec = { id: 'eni-0000000000000c101', mac: '02:ec:00:00:02:21', ifname: 'eth2', subnet: 'd2', deviceNumber: 1, networkCard: 1, ipv4s: ['10.0.2.40'], ipv6s: ['2001:db8:2::40'] };
    await vpc.attach(c0);
    for (const eni of [c0d1, c1d1]) {
      // A freshly attached ENI on a multi-card type: network-card answers 404 for its first seconds.
      await vpc.imds.setFault(`/latest/meta-data/network/interfaces/macs/${eni.mac}/network-card`, { status: 404, forMs: 3_000 });
      await vpc.attach(eni);
    }
    const started = Date.now();
    const results = await Promise.all(['eth1', 'eth2'].map((i) => agent(vpc, root, 'ec2ifup', [i])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - started >= 3_000, 'the runs waited the 404s out');
    const rules = await lines(vpc, ['rule', 'show']);
    assert.ok(rules.includes('10001: from 10.0.2.30 lookup 10001 proto 236'), rules.join(' | '));
    assert.ok(rules.includes('10101: from 10.0.2.40 lookup 10101 proto 236'), rules.join(' | '));
    const r = await reach(vpc, ['10.0.2.30', '10.0.2.40', '2001:db8:2::30', '2001:db8:2::40']);
    assert.deepEqual(r.failed, []);
  });
});

describe('a host that forwards (Docker, Kubernetes with IPv6), ifcfg backend', () => {
  let vpc: Vpc;
  after(async () => vpc?.destroy());

  test('forwarding on before ec2ifup: RAs are still accepted on the ENI (accept_ra=2), and its IPv6 addresses answer', async () => {
    vpc = await Vpc.create({ subnets: DUAL_SUBNETS.slice(0, 2) });
    const root = newRoot();
    await vpc.attach(P0);
    // ip-sysctl.rst, accept_ra: "1 - Accept Router Advertisements if forwarding is disabled. 2 - Overrule
    // forwarding behaviour. Accept Router Advertisements even if forwarding is enabled."
    const fwd = await vpc.exec('instance', ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.default.forwarding=1']);
    assert.equal(fwd.code, 0, fwd.stderr);
    const eni: EniSpec = { id: 'eni-0000000000000d001', mac: '02:ec:00:00:03:11', ifname: 'eth1', subnet: 'd2', deviceNumber: 1, ipv4s: ['10.0.2.50'], ipv6s: ['2001:db8:2::50', '2001:db8:2::51'] };
    await vpc.attach(eni);
    const r = await agent(vpc, root, 'ec2ifup', ['eth1']);
    succeeded(r, 'ec2ifup eth1');
    const acceptRa = await vpc.exec('instance', ['sysctl', '-n', 'net.ipv6.conf.eth1.accept_ra']);
    assert.equal(acceptRa.stdout.trim(), '2');
    const table = await lines(vpc, ['-6', 'route', 'show', 'table', '10001']);
    assert.ok(table.some((l) => l.startsWith('default via fe80::')), table.join(' | '));
    assert.deepEqual((await reach(vpc, [...eni.ipv4s, ...eni.ipv6s!])).failed, []);
  });
});

describe('an ENI whose link was up before ec2ifup (ifcfg backend)', () => {
  // RFC 4861 allows up to 1800 s between unsolicited RAs (MaxRtrAdvInterval); the simulated router's default is a few
  // seconds. At 600 s the kernel would keep the route it learned at link up, at 1024, for ten minutes.
  for (const raIntervalSeconds of [undefined, 600]) {
    test(`the RA default it learned at 1024, tied with the primary's, goes at once${raIntervalSeconds ? ` (RAs every ${raIntervalSeconds} s)` : '; the next RA adds it at the ENI\'s metric'}`, async () => {
      const vpc = await Vpc.create({ subnets: DUAL_SUBNETS.slice(0, 2), ...(raIntervalSeconds ? { raIntervalSeconds } : {}) });
      try {
        const root = newRoot();
        await vpc.attach(P0);
        const eni: EniSpec = { id: 'eni-0000000000000d101', mac: '02:ec:00:00:03:21', ifname: 'eth1', subnet: 'd2', deviceNumber: 1, ipv4s: ['10.0.2.60'], ipv6s: ['2001:db8:2::60'] };
        await vpc.attach(eni);
        // Up before ec2net runs (another tool, or an earlier agent): the solicited RA installs its default at 1024.
        await vpc.exec('instance', ['ip', 'link', 'set', 'eth1', 'up']);
        await eventually(async () => assert.ok((await lines(vpc, ['-6', 'route', 'show', 'default', 'dev', 'eth1'])).some((l) => / metric 1024 /.test(l))), RA_WAIT_MS);
        await eventually(async () => assert.notDeepEqual(await lines(vpc, ['-6', 'route', 'show', 'default', 'dev', 'eth0']), []), RA_WAIT_MS);
        succeeded(await agent(vpc, root, 'ec2ifup', ['eth1']), 'ec2ifup eth1');
        const after = await lines(vpc, ['-6', 'route', 'show', 'default', 'dev', 'eth1']);
        assert.ok(!after.some((l) => / metric 1024 /.test(l)), after.join(' | '));
        // Replies from the primary's IPv6 address leave by eth0.
        assert.match((await vpc.exec('instance', ['ip', '-6', 'route', 'get', vpc.remoteAddr6, 'from', P0.ipv6s![0] as string])).stdout, / dev eth0 /);
        assert.deepEqual((await reach(vpc, [...eni.ipv4s, ...eni.ipv6s!, ...P0.ipv6s!])).failed, []);
        if (raIntervalSeconds === undefined) {
          await eventually(async () => assert.ok((await lines(vpc, ['-6', 'route', 'show', 'default', 'dev', 'eth1'])).some((l) => / proto ra metric 10001 /.test(l))), 60_000, 1_000);
        }
      } finally {
        await vpc.destroy();
      }
    });
  }
});
