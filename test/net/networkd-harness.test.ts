/**
 * A real systemd-networkd 252 (test/vpc/networkd.ts) in the simulated VPC: the harness itself, and what networkd
 * does to the state ec2net's networkd backend depends on, pinned as assertions. The secondary ENI sits in the
 * primary's subnet and gets its address from the VPC's dnsmasq (MTU option 9001).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Vpc, type EniSpec } from '../vpc/vpc.js';
import { LINK_SETTLE_TIMEOUT_MS, Networkd, NETWORKD_BUS_NAME, type NetworkdOptions } from '../vpc/networkd.js';
import { ENI0, SUBNETS, addressLines, eventually, routeLines, ruleLines } from '../support/agent.js';

const ENI: EniSpec = { id: 'eni-0000000000000b001', mac: '02:ec:00:00:0b:01', ifname: 'eth1', subnet: 's1', deviceNumber: 1, ipv4s: ['10.0.1.20', '10.0.1.21'] };
const IF = ENI.ifname;
const FILE = '70-ec2net-eth1.network';
/** How long a no-op (a reload of unchanged files) is watched for changes it should not make. */
const QUIET_MS = 1_000;
/** Link appearance to a DHCP address and to "configured", on a quiet machine; generous for a loaded one. */
const DHCP_BOUND_MS = 5_000;
const TIMING_ROUNDS = 5;

const KEEP_FOREIGN = '[Network]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutes=no\n';

function network(dhcpv4 = 'UseMTU=yes\nRouteMetric=513\n', more = ''): string {
  return `[Match]\nMACAddress=${ENI.mac}\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\n${dhcpv4}${more}`;
}

/** A VPC with the primary ENI attached and networkd running; the secondary ENI is attached by the tests. */
function withNetworkd(opts: NetworkdOptions = {}): { vpc: Vpc; nd: Networkd } {
  const ctx = {} as { vpc: Vpc; nd: Networkd };
  before(async () => {
    ctx.vpc = await Vpc.create({ subnets: SUBNETS });
    await ctx.vpc.attach(ENI0);
    ctx.nd = await Networkd.start(ctx.vpc, opts);
  });
  after(async () => {
    await ctx.nd?.stop();
    await ctx.vpc?.destroy();
  });
  return ctx;
}

async function ip(vpc: Vpc, ...commands: string[]): Promise<void> {
  for (const c of commands) {
    const r = await vpc.exec('instance', ['ip', ...c.split(' ')]);
    assert.equal(r.code, 0, `ip ${c}: ${r.stderr}`);
  }
}

async function attachConfigured(nd: Networkd, vpc: Vpc): Promise<void> {
  await vpc.attach(ENI);
  await nd.waitForSetup(IF, 'configured');
}

/** Runs `op` (a reload, reconfigure or restart that reconfigures the link) and waits until the link is configured again. */
async function reconfigured(nd: Networkd, op: () => Promise<void>): Promise<void> {
  const since = nd.mark();
  await op();
  await nd.waitForTransition(IF, 'configured', since);
}

/** networkd's config parser prefixes every complaint with FILE:LINE. */
function parseErrors(nd: Networkd): string[] {
  return nd.log().split('\n').filter((l) => /\.(network|conf):\d+: /.test(l));
}

describe('networkd harness', () => {
  const ctx = withNetworkd({ etcNetworkFiles: { '99-marker.network': '[Match]\nName=none\n' } });

  test('networkd runs as systemd-network, owns its bus name, and keeps its state in the private /run', async () => {
    const { nd } = ctx;
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${nd.pid}/status`, 'utf8'))?.[1];
    const passwd = readFileSync('/etc/passwd', 'utf8');
    assert.equal(uid, /^systemd-network:x:(\d+):/m.exec(passwd)?.[1]);
    const names = await nd.exec(['busctl', '--system', 'list', '--no-legend', '--acquired']);
    assert.match(names.stdout, new RegExp(`^${NETWORKD_BUS_NAME.replaceAll('.', '\\.')} `, 'm'));
    // networkd made /run/systemd/netif itself, for its user, before dropping privileges
    assert.equal(statSync(join(nd.runDir, 'systemd', 'netif')).uid, Number(uid));
    assert.ok(existsSync(join(nd.runDir, 'systemd', 'netif', 'state')));
  });

  test('the mounts are private: the sandbox sees none of them', async () => {
    const { nd } = ctx;
    const inside = await nd.exec(['cat', '/etc/systemd/network/99-marker.network']);
    assert.equal(inside.code, 0, inside.stderr);
    assert.ok(!existsSync('/etc/systemd/network/99-marker.network'));
    const mountPoints = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]);
    for (const m of ['/run/systemd/network', '/etc/systemd/network', '/run/dbus', '/usr/lib/systemd/network']) assert.ok(!mountPoints.includes(m), m);
  });

  test('links without a .network file are left unmanaged', async () => {
    const list = await ctx.nd.networkctl(['list', '--no-legend']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /\beth0\s+ether\s+routable\s+unmanaged\b/);
    assert.match(list.stdout, /\blo\s+loopback\s+carrier\s+unmanaged\b/);
  });
});

describe('(a) foreign rules, routes and addresses across reload, reconfigure and restart', () => {
  const RULES = ['777 from 192.0.2.7/32 lookup 777 proto 236', '778 from 192.0.2.8/32 lookup 778 proto 4'];
  const ROUTE_LO = '198.18.0.0/24 dev lo table 778 proto 236';
  /** On the primary ENI, which no .network file matches. */
  const ROUTE_ETH0 = '198.18.4.0/24 via 10.0.1.1 dev eth0 table 780 proto 236';
  /** On the link networkd manages: the shape of ec2net's per-ENI table routes. */
  const ROUTE_ETH1 = '198.18.1.0/24 dev eth1 table 779 proto 236';
  const ADDR = '10.0.1.21/32';
  const ADD = [
    'rule add from 192.0.2.7 lookup 777 priority 777 proto 236',
    'rule add from 192.0.2.8 lookup 778 priority 778 proto static',
    'route replace 198.18.0.0/24 dev lo table 778 proto 236',
    'route replace 198.18.4.0/24 via 10.0.1.1 dev eth0 table 780 proto 236',
    `addr replace ${ADDR} dev eth1`,
    'route replace 198.18.1.0/24 dev eth1 table 779 proto 236',
  ];

  interface Foreign { rules: string[]; routes: string[]; addr: boolean }

  async function addForeign(vpc: Vpc): Promise<void> {
    const rules = await ruleLines(vpc);
    await ip(vpc, ...ADD.filter((c, i) => !c.startsWith('rule') || !rules.includes(RULES[i] as string)));
  }

  async function foreign(vpc: Vpc): Promise<Foreign> {
    const rules = await ruleLines(vpc);
    const routes = await routeLines(vpc);
    return {
      rules: RULES.filter((r) => rules.includes(r)),
      routes: [ROUTE_LO, ROUTE_ETH0, ROUTE_ETH1].filter((r) => routes.includes(r)),
      addr: (await addressLines(vpc, IF)).includes(ADDR),
    };
  }

  const ALL: Foreign = { rules: RULES, routes: [ROUTE_LO, ROUTE_ETH0, ROUTE_ETH1], addr: true };

  for (const dropin of [true, false]) {
    describe(dropin ? 'with ManageForeignRoutingPolicyRules=no, ManageForeignRoutes=no' : 'with networkd.conf defaults', () => {
      const ctx = withNetworkd(dropin ? { confDropins: { 'ec2net.conf': KEEP_FOREIGN } } : {});
      const removalLines = (since: number): string[] => ctx.nd.log(since).split('\n').filter((l) => /Removing foreign (route|routing policy rule)/.test(l));

      before(async () => {
        writeFileSync(join(ctx.nd.networkDir, FILE), network());
        await ctx.nd.reload();
        await attachConfigured(ctx.nd, ctx.vpc);
      });

      test('a reload of unchanged files touches nothing', async () => {
        const { vpc, nd } = ctx;
        await addForeign(vpc);
        const since = nd.mark();
        await nd.reload();
        await sleep(QUIET_MS);
        assert.deepEqual(await foreign(vpc), ALL);
        assert.doesNotMatch(nd.log(since), /State changed/);
      });

      // A reload after the file changed reconfigures the link, as reconfigure does. Reconfiguring drops the DHCP
      // address and the foreign address; with no IPv4 address left the kernel flushes every route on the link.
      const afterReconfigure: Foreign = dropin
        ? { rules: RULES, routes: [ROUTE_LO, ROUTE_ETH0], addr: false }
        : { rules: [], routes: [ROUTE_LO, ROUTE_ETH0], addr: false };

      test('a reload of a changed file', async () => {
        const { vpc, nd } = ctx;
        await addForeign(vpc);
        const since = nd.mark();
        await reconfigured(nd, async () => {
          writeFileSync(join(nd.networkDir, FILE), network(undefined, '# rewritten\n'));
          await nd.reload();
        });
        assert.deepEqual(await foreign(vpc), afterReconfigure);
        if (dropin) assert.deepEqual(removalLines(since), []);
        else assert.equal(removalLines(since).length, RULES.length + 1, nd.log(since));
      });

      test('networkctl reconfigure', async () => {
        const { vpc, nd } = ctx;
        await addForeign(vpc);
        await reconfigured(nd, () => nd.reconfigure(IF));
        assert.deepEqual(await foreign(vpc), afterReconfigure);
      });

      test('a restart keeps everything: the foreign address keeps IPv4 alive on the link while the DHCP address is gone', async () => {
        const { vpc, nd } = ctx;
        await addForeign(vpc);
        await reconfigured(nd, () => nd.restart());
        assert.deepEqual(await foreign(vpc), ALL);
      });

      test('a stop drops the DHCP address: a link left with no IPv4 address loses its routes', async () => {
        const { vpc, nd } = ctx;
        await addForeign(vpc);
        await ip(vpc, `addr del ${ADDR} dev eth1`);
        await nd.stopNetworkd();
        assert.deepEqual(await addressLines(vpc, IF), []);
        assert.deepEqual((await foreign(vpc)).routes, [ROUTE_LO, ROUTE_ETH0]);
        await reconfigured(nd, () => nd.restart());
      });
    });
  }
});

describe('(a) KeepConfiguration= decides what a reconfigure and a stop drop from the link', () => {
  const ctx = withNetworkd({ confDropins: { 'ec2net.conf': KEEP_FOREIGN } });
  const ROUTE = '198.18.1.0/24 dev eth1 table 779 proto 236';
  const kept = async (vpc: Vpc) => ({
    addresses: await addressLines(vpc, IF),
    route: (await routeLines(vpc)).includes(ROUTE),
  });
  const dhcp = '10.0.1.20/24';
  const secondary = '10.0.1.21/32';
  // value → [after reconfigure, after stop]
  const cases: Record<string, [{ addresses: string[]; route: boolean }, { addresses: string[]; route: boolean }]> = {
    no: [{ addresses: [dhcp], route: false }, { addresses: [], route: false }],
    static: [{ addresses: [dhcp, secondary], route: true }, { addresses: [], route: false }],
    'dhcp-on-stop': [{ addresses: [dhcp], route: false }, { addresses: [dhcp], route: true }],
    yes: [{ addresses: [dhcp, secondary], route: true }, { addresses: [dhcp], route: true }],
  };
  for (const [value, [afterReconfigure, afterStop]] of Object.entries(cases)) {
    test(`KeepConfiguration=${value}`, async () => {
      const { vpc, nd } = ctx;
      writeFileSync(join(nd.networkDir, FILE), network(undefined, `\n[Network]\nKeepConfiguration=${value}\n`));
      await nd.reload();
      await attachConfigured(nd, vpc);
      await ip(vpc, `addr replace ${secondary} dev eth1`, `route replace ${ROUTE}`);
      await reconfigured(nd, () => nd.reconfigure(IF));
      assert.deepEqual(await kept(vpc), afterReconfigure, 'after reconfigure');
      // the stop case alone: only the DHCP address holds IPv4 up on the link
      await ip(vpc, `addr flush dev eth1 to ${secondary}`, `route replace ${ROUTE}`);
      await nd.stopNetworkd();
      assert.deepEqual(await kept(vpc), afterStop, 'after stop');
      await nd.restart();
      await vpc.detach(ENI.id);
    });
  }

  test('a restart that finds its DHCP address kept re-adds it without the RouteMetric on the subnet route', async () => {
    const { vpc, nd } = ctx;
    writeFileSync(join(nd.networkDir, FILE), network(undefined, '\n[Network]\nKeepConfiguration=dhcp-on-stop\n'));
    await nd.reload();
    await attachConfigured(nd, vpc);
    assert.ok((await routeLines(vpc)).includes('10.0.1.0/24 dev eth1 table 254 metric 513 src 10.0.1.20 proto 2'));
    await reconfigured(nd, () => nd.restart());
    const routes = await routeLines(vpc);
    assert.ok(routes.includes('10.0.1.0/24 dev eth1 table 254 src 10.0.1.20 proto 2'), routes.join('\n'));
    assert.ok(routes.includes('default via 10.0.1.1 dev eth1 table 254 metric 513 src 10.0.1.20 proto 16'), routes.join('\n'));
    await vpc.detach(ENI.id);
  });
});

describe('(b) DHCPv4 from the VPC: the [DHCPv4] keys of networkd 252', () => {
  const ctx = withNetworkd({ confDropins: { 'ec2net.conf': KEEP_FOREIGN } });

  async function leased(dhcpv4: string): Promise<{ mtu: string; routes: string[]; addr: string; status: string }> {
    const { vpc, nd } = ctx;
    writeFileSync(join(nd.networkDir, FILE), network(dhcpv4));
    await nd.reload();
    await attachConfigured(nd, vpc);
    const mtu = (await vpc.exec('instance', ['cat', `/sys/class/net/${IF}/mtu`])).stdout.trim();
    const routes = (await routeLines(vpc)).filter((r) => r.includes(`dev ${IF} `));
    const addr = (await vpc.exec('instance', ['ip', '-4', '-o', 'addr', 'show', 'dev', IF])).stdout;
    const status = (await nd.status(IF)).text;
    await vpc.detach(ENI.id);
    return { mtu, routes, addr, status };
  }

  test('defaults: the DHCP MTU is ignored, routes get metric 1024', async () => {
    const r = await leased('');
    assert.equal(r.mtu, '1500');
    assert.deepEqual(r.routes, [
      '10.0.1.0/24 dev eth1 table 254 metric 1024 src 10.0.1.20 proto 2',
      '10.0.1.1 dev eth1 table 254 metric 1024 src 10.0.1.20 proto 16',
      'default via 10.0.1.1 dev eth1 table 254 metric 1024 src 10.0.1.20 proto 16',
    ]);
  });

  test('UseMTU=yes applies 9001; RouteMetric= sets the metric of the default, gateway and subnet routes', async () => {
    const r = await leased('UseMTU=yes\nRouteMetric=513\n');
    assert.equal(r.mtu, '9001');
    assert.deepEqual(r.routes, [
      '10.0.1.0/24 dev eth1 table 254 metric 513 src 10.0.1.20 proto 2',
      '10.0.1.1 dev eth1 table 254 metric 513 src 10.0.1.20 proto 16',
      'default via 10.0.1.1 dev eth1 table 254 metric 513 src 10.0.1.20 proto 16',
    ]);
    assert.match(r.status, /Address: 10\.0\.1\.20 \(DHCP4 via 10\.0\.1\.1\)/);
  });

  test('RouteTable= moves every DHCP route, the subnet route too (address noprefixroute), out of main', async () => {
    const r = await leased('UseMTU=yes\nRouteTable=10001\n');
    assert.deepEqual(r.routes, [
      '10.0.1.0/24 dev eth1 table 10001 metric 1024 src 10.0.1.20 proto 16',
      '10.0.1.1 dev eth1 table 10001 metric 1024 src 10.0.1.20 proto 16',
      'default via 10.0.1.1 dev eth1 table 10001 metric 1024 src 10.0.1.20 proto 16',
    ]);
    assert.match(r.addr, /noprefixroute/);
  });

  for (const key of ['UseGateway=no', 'UseRoutes=no']) {
    test(`${key} leaves no default route (MAINROUTETABLE=no), only the subnet route`, async () => {
      const r = await leased(`UseMTU=yes\n${key}\n`);
      assert.deepEqual(r.routes, ['10.0.1.0/24 dev eth1 table 254 metric 1024 src 10.0.1.20 proto 2']);
    });
  }

  test('ClientIdentifier=mac sends the MAC instead of the machine-id based DUID', async () => {
    const r = await leased('UseMTU=yes\nClientIdentifier=mac\n');
    assert.match(r.status, new RegExp(`DHCP4 Client ID: ${ENI.mac}`));
  });

  test('networkd handles router advertisements itself: the kernel accept_ra is 0 on a managed link', async () => {
    const { vpc, nd } = ctx;
    writeFileSync(join(nd.networkDir, FILE), network());
    await nd.reload();
    const since = nd.mark();
    await attachConfigured(nd, vpc);
    assert.equal((await vpc.exec('instance', ['cat', `/proc/sys/net/ipv6/conf/${IF}/accept_ra`])).stdout.trim(), '0');
    assert.match(nd.log(since), new RegExp(`^${IF}: NDISC: Started IPv6 Router Solicitation client$`, 'm'));
    await vpc.detach(ENI.id);
  });

  test('every key above parses without a warning', () => {
    assert.deepEqual(parseErrors(ctx.nd), []);
  });
});

describe('(c) [Address], [Route] and [RoutingPolicyRule] in a .network file', () => {
  const ctx = withNetworkd({ confDropins: { 'ec2net.conf': KEEP_FOREIGN } });
  const FULL = network('UseMTU=yes\nRouteMetric=513\n', `
[Address]
Address=10.0.1.21/32

[Route]
Gateway=_dhcp4
Table=10001
Protocol=236

[Route]
Destination=10.0.1.0/24
Scope=link
PreferredSource=10.0.1.20
Table=10001
Protocol=236

[RoutingPolicyRule]
From=10.0.1.20/32
Table=10001
Priority=10001

[RoutingPolicyRule]
From=10.0.1.21/32
Table=10001
Priority=10001
`);
  const RULES = ['10001 from 10.0.1.20/32 lookup 10001 proto 4', '10001 from 10.0.1.21/32 lookup 10001 proto 4'];
  const TABLE_ROUTES = [
    '10.0.1.0/24 dev eth1 table 10001 src 10.0.1.20 proto 236',
    'default via 10.0.1.1 dev eth1 table 10001 metric 513 proto 16',
  ];
  const ours = async (vpc: Vpc) => ({
    rules: (await ruleLines(vpc)).filter((r) => r.startsWith('10001 ')),
    tableRoutes: (await routeLines(vpc)).filter((r) => r.includes(' table 10001 ')),
    addresses: await addressLines(vpc, IF).catch(() => []),
  });

  test('Gateway=_dhcp4 works (as a DHCP route: proto dhcp, the DHCP RouteMetric); Protocol=236 holds for static routes; rules get proto static', async () => {
    const { vpc, nd } = ctx;
    writeFileSync(join(nd.networkDir, FILE), FULL);
    await nd.reload();
    await attachConfigured(nd, vpc);
    assert.deepEqual(await ours(vpc), { rules: RULES, tableRoutes: TABLE_ROUTES, addresses: ['10.0.1.20/24', '10.0.1.21/32'] });
  });

  test('[RoutingPolicyRule] Protocol= does not exist in 252', async () => {
    const { nd } = ctx;
    writeFileSync(join(nd.networkDir, '99-probe.network'), '[Match]\nName=none\n\n[RoutingPolicyRule]\nFrom=192.0.2.1/32\nTable=1\nProtocol=236\n');
    const since = nd.mark();
    await nd.reload();
    rmSync(join(nd.networkDir, '99-probe.network'));
    assert.match(nd.log(since), /99-probe\.network:\d+: Unknown key 'Protocol' in section \[RoutingPolicyRule\], ignoring\./);
    assert.deepEqual(parseErrors(ctx.nd).filter((l) => !l.includes('99-probe')), []);
  });

  test('when the link goes, the kernel takes its routes; the rules networkd made for it linger', async () => {
    const { vpc, nd } = ctx;
    await vpc.detach(ENI.id);
    await nd.reload();
    assert.deepEqual(await ours(vpc), { rules: RULES, tableRoutes: [], addresses: [] });
  });

  test('when it comes back, networkd configures it all again', async () => {
    const { vpc, nd } = ctx;
    await attachConfigured(nd, vpc);
    assert.deepEqual((await ours(vpc)).tableRoutes, TABLE_ROUTES);
  });

  test('deleting the file and reloading removes all of it, the DHCP address and routes too; the link is unmanaged', async () => {
    const { vpc, nd } = ctx;
    rmSync(join(nd.networkDir, FILE));
    await nd.reload();
    await nd.waitForSetup(IF, 'unmanaged');
    await eventually(async () => {
      assert.deepEqual(await ours(vpc), { rules: [], tableRoutes: [], addresses: [] });
      assert.deepEqual((await routeLines(vpc)).filter((r) => r.includes('eth1')), []);
    }, LINK_SETTLE_TIMEOUT_MS);
  });

  test('a rule left by a detached link stays after the file is deleted and networkd reloads', async () => {
    const { vpc, nd } = ctx;
    writeFileSync(join(nd.networkDir, FILE), FULL);
    await nd.reload();
    await nd.waitForSetup(IF, 'configured');
    await vpc.detach(ENI.id);
    rmSync(join(nd.networkDir, FILE));
    await nd.reload();
    await sleep(QUIET_MS);
    assert.deepEqual((await ours(vpc)).rules, RULES);
    // and, with ManageForeignRoutingPolicyRules=no, after a restart it is foreign: nothing ever removes it
    await nd.restart();
    await sleep(QUIET_MS);
    assert.deepEqual((await ours(vpc)).rules, RULES);
  });
});

describe('(d) which file configures the link: the lowest name across /etc, /run, /usr/lib wins', () => {
  const NETPLAN = '10-netplan-eth1.network';
  const ctx = withNetworkd({
    confDropins: { 'ec2net.conf': KEEP_FOREIGN },
    etcNetworkFiles: { [NETPLAN]: '[Match]\nName=eth1\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nRouteMetric=100\n' },
  });
  const run = (name: string): string => join(ctx.nd.networkDir, name);

  async function used(): Promise<{ file: string | undefined; metric: string | undefined }> {
    const { vpc, nd } = ctx;
    const status = await nd.waitForSetup(IF, 'configured');
    const route = (await routeLines(vpc)).find((r) => r.startsWith('default via 10.0.1.1 dev eth1 table 254'));
    return { file: status.networkFile, metric: / metric (\d+)/.exec(route ?? '')?.[1] };
  }

  async function reloadWith(add: Record<string, string>, remove: string[] = []): Promise<void> {
    for (const name of remove) rmSync(run(name), { recursive: true });
    for (const [name, content] of Object.entries(add)) {
      mkdirSync(join(run(name), '..'), { recursive: true });
      writeFileSync(run(name), content);
    }
    await reconfigured(ctx.nd, () => ctx.nd.reload());
  }

  before(async () => {
    writeFileSync(run(FILE), network());
    await ctx.nd.reload();
    await ctx.vpc.attach(ENI);
  });

  test('/etc/systemd/network/10-netplan-eth1.network shadows /run/systemd/network/70-ec2net-eth1.network', async () => {
    assert.deepEqual(await used(), { file: `/etc/systemd/network/${NETPLAN}`, metric: '100' });
  });

  test('/run/systemd/network/09-ec2net-eth1.network wins', async () => {
    await reloadWith({ '09-ec2net-eth1.network': network() });
    assert.deepEqual(await used(), { file: '/run/systemd/network/09-ec2net-eth1.network', metric: '513' });
  });

  test('so does 10-ec2net-eth1.network: "10-e" sorts before "10-n"', async () => {
    await reloadWith({ '10-ec2net-eth1.network': network() }, ['09-ec2net-eth1.network']);
    assert.deepEqual(await used(), { file: '/run/systemd/network/10-ec2net-eth1.network', metric: '513' });
  });

  test('a file of the same name in /run is masked by the one in /etc', async () => {
    await reloadWith({ [NETPLAN]: network() }, ['10-ec2net-eth1.network']);
    assert.deepEqual(await used(), { file: `/etc/systemd/network/${NETPLAN}`, metric: '100' });
  });

  test('a drop-in under /run/systemd/network/10-netplan-eth1.network.d/ applies to the /etc file', async () => {
    await reloadWith({ [`${NETPLAN}.d/ec2net.conf`]: '[DHCPv4]\nRouteMetric=777\n' }, [NETPLAN]);
    assert.deepEqual(await used(), { file: `/etc/systemd/network/${NETPLAN}`, metric: '777' });
  });

  test('networkctl 252 has no cat verb to show the drop-ins', async () => {
    const r = await ctx.nd.networkctl(['cat', NETPLAN]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unknown command verb cat/);
  });
});

describe('(e) time from link appearance to a DHCP address', () => {
  const ctx = withNetworkd({ confDropins: { 'ec2net.conf': KEEP_FOREIGN } });

  test(`${TIMING_ROUNDS} attaches`, async (t) => {
    const { vpc, nd } = ctx;
    writeFileSync(join(nd.networkDir, FILE), network());
    await nd.reload();
    const rounds: { address: number; ipv6ll: number; configured: number }[] = [];
    for (let i = 0; i < TIMING_ROUNDS; i++) {
      const since = nd.mark();
      await vpc.attach(ENI);
      const appeared = await nd.waitForLine(new RegExp(`^${IF}: Saved new link`), since);
      const address = await nd.waitForLine(new RegExp(`^${IF}: DHCPv4 address 10\\.0\\.1\\.20/24, gateway 10\\.0\\.1\\.1 acquired`), since);
      const ipv6ll = await nd.waitForLine(new RegExp(`^${IF}: Gained IPv6LL$`), since);
      const configured = await nd.waitForTransition(IF, 'configured', since);
      rounds.push({ address: address.at - appeared.at, ipv6ll: ipv6ll.at - appeared.at, configured: configured.at - appeared.at });
      await vpc.detach(ENI.id);
    }
    for (const key of ['address', 'ipv6ll', 'configured'] as const) {
      t.diagnostic(`link appearance → ${key}, ms: ${rounds.map((r) => r[key]).join(' ')}`);
    }
    for (const r of rounds) assert.ok(r.configured < DHCP_BOUND_MS, JSON.stringify(rounds));
  });
});

describe('(f) what networkd needs', () => {
  let vpc: Vpc;
  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    await vpc.attach(ENI0);
  });
  after(async () => vpc?.destroy());

  test('no bus: networkd configures links, but every networkctl verb fails', async () => {
    const nd = await Networkd.start(vpc, { bus: false });
    try {
      writeFileSync(join(nd.networkDir, FILE), network());
      await nd.restart();
      const since = nd.mark();
      await vpc.attach(ENI);
      await nd.waitForTransition(IF, 'configured', since);
      assert.deepEqual(await addressLines(vpc, IF), ['10.0.1.20/24']);
      for (const verb of [['reload'], ['reconfigure', IF], ['list'], ['status', IF]]) {
        const r = await nd.networkctl(verb);
        assert.equal(r.code, 1, verb.join(' '));
        assert.match(r.stderr, /Failed to connect system bus: No such file or directory/);
      }
    } finally {
      await nd.stop();
      await vpc.detach(ENI.id);
    }
  });

  test('no systemd-network user: networkd refuses to start', async () => {
    const passwd = join(vpc.tmpDir, 'passwd-without-systemd-network');
    writeFileSync(passwd, readFileSync('/etc/passwd', 'utf8').replace(/^systemd-network:.*\n/m, ''));
    await assert.rejects(Networkd.start(vpc, { binds: { '/etc/passwd': passwd } }), /Cannot resolve user name systemd-network/);
  });

  test('an empty /etc/machine-id: no DUID, the link fails (the DHCPv6 client needs one even with DHCP=ipv4)', async () => {
    const machineId = join(vpc.tmpDir, 'empty-machine-id');
    writeFileSync(machineId, '');
    const nd = await Networkd.start(vpc, { binds: { '/etc/machine-id': machineId } });
    try {
      writeFileSync(join(nd.networkDir, FILE), network('UseMTU=yes\nClientIdentifier=mac\n'));
      await nd.reload();
      const since = nd.mark();
      await vpc.attach(ENI);
      await nd.waitForTransition(IF, 'failed', since);
      assert.match(nd.log(since), new RegExp(`^${IF}: Failed to configure DHCPv6 client: No medium found$`, 'm'));
    } finally {
      await nd.stop();
      await vpc.detach(ENI.id);
    }
  });
});
