/**
 * The ifup / ifdown / scan flows over stateful fakes: state in, act, state out.
 */
import { describe, test } from 'node:test';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, writeFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { ifcfgBackend } from '../../src/backends/ifcfg.js';
import { DHCP_WAIT_MS, MAC_WAIT_MS, ifup, readRecord } from '../../src/agent/ifup.js';
import { acquireLock, lockPath } from '../../src/ports/lock.js';
import { ifdown } from '../../src/agent/ifdown.js';
import { BOOT_IMDS_WAIT_MS, scan } from '../../src/agent/scan.js';
import { EC2NET_PROTOCOL, parseConfig } from '../../src/config.js';
import { NEEDS_ROOT, formatStatus, interfaceStatus, kernelStatus } from '../../src/agent/status.js';
import { formatPlanDiff, planDiff } from '../../src/agent/plan-diff.js';
import { eniOfTable, tableId } from '../../src/planner/numbering.js';
import { Ec2netError } from '../../src/errors.js';
import type { Route, Rule } from '../../src/model/state.js';
import { FakeKernel } from '../fakes/kernel.js';
import { FakeImds, type FakeEni } from '../fakes/imds.js';
import { fakeContext } from '../fakes/context.js';

const P = EC2NET_PROTOCOL;
const ETH0: FakeEni = { mac: '02:00:00:00:00:01', id: 'eni-00000000000000001', deviceNumber: 0, subnet: '10.0.1.0/24', ipv4s: ['10.0.1.10', '10.0.1.11'] };
const ETH1: FakeEni = { mac: '02:00:00:00:00:02', id: 'eni-00000000000000002', deviceNumber: 1, subnet: '10.0.2.0/24', ipv4s: ['10.0.2.10', '10.0.2.11', '10.0.2.12'] };
const ETH2: FakeEni = { mac: '02:00:00:00:00:03', id: 'eni-00000000000000003', deviceNumber: 2, subnet: '10.0.1.0/24', ipv4s: ['10.0.1.20', '10.0.1.21'], prefixes: ['10.0.1.48/28'] };
const FOREIGN_RULE: Rule = { family: 4, src: '10.0.2.11/32', table: 10001, priority: 512, protocol: 4 };
const FOREIGN_ROUTE: Route = { family: 4, table: 10001, dst: '192.168.7.0/24', dev: 'eth1', gateway: '10.0.2.1', metric: 0, scope: 'universe', protocol: 4 };

function world(enis: FakeEni[] = [ETH0, ETH1, ETH2]) {
  const kernel = new FakeKernel({
    links_: [
      { index: 1, name: 'lo', mac: '00:00:00:00:00:00', up: true, altnames: [] },
      ...enis.map((e, i) => ({ index: i + 2, name: `eth${i}`, mac: e.mac, up: i === 0, altnames: [] })),
    ],
    addresses_: [{ family: 4, dev: 'eth0', address: '10.0.1.10/24' }],
    routes_: [{ family: 4, table: 254, dst: '0.0.0.0/0', dev: 'eth0', gateway: '10.0.1.1', metric: 0, scope: 'universe', protocol: 16 }],
  });
  const imds = FakeImds.of(enis);
  const f = fakeContext(kernel, imds);
  enis.forEach((e, i) => f.dhcp.leases.set(`eth${i}`, `${e.ipv4s[0]}/24`));
  return { kernel, imds, ...f };
}

/** Every file (not directory) under dir, relative to it, sorted; [] when dir does not exist. */
const filesUnder = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1)).sort() : [];

const sortRules = (rs: readonly Rule[]) => rs.map((r) => `${r.src} ${r.table} ${r.priority} ${r.protocol}`).sort();
const snapshot = (k: FakeKernel) => structuredClone({ rules: k.rules_, routes: k.routes_, addresses: k.addresses_ });

describe('ec2ifup', () => {
  test('configures a secondary ENI: rules, table routes, main default, secondary /32s, files', async () => {
    const { kernel, ctx, root } = world();
    const result = await ifup(ctx, 'eth1');
    assert.equal(result.changed, true);
    assert.deepEqual(sortRules(kernel.rules_), ['10.0.2.10/32 10001 10001 236', '10.0.2.11/32 10001 10001 236', '10.0.2.12/32 10001 10001 236']);
    const ours = kernel.routes_.filter((r) => r.protocol === P).map((r) => `${r.table} ${r.dst} ${r.gateway ?? '-'} ${r.prefsrc ?? '-'} ${r.metric}`).sort();
    assert.deepEqual(ours, ['10001 0.0.0.0/0 10.0.2.1 - 0', '10001 10.0.2.0/24 - 10.0.2.10 0', '254 0.0.0.0/0 10.0.2.1 - 10001']);
    assert.deepEqual(kernel.addresses_.filter((a) => a.dev === 'eth1').map((a) => a.address).sort(), ['10.0.2.10/24', '10.0.2.11/32', '10.0.2.12/32']);
    assert.ok(kernel.links_.find((l) => l.name === 'eth1')?.up);
    assert.match(readFileSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth1`, 'utf8'), /^DEVICE=eth1\nBOOTPROTO=dhcp\n/);
    assert.ok(existsSync(`${root}/etc/sysconfig/network-scripts/route-eth1`));
    assert.ok(existsSync(`${root}/etc/dhcp/dhclient-eth1.conf`));
  });

  test('a second run on converged state changes nothing', async () => {
    const { kernel, ctx } = world();
    await ifup(ctx, 'eth1');
    const before = snapshot(kernel);
    kernel.calls.length = 0;
    const again = await ifup(ctx, 'eth1');
    assert.equal(again.changed, false);
    assert.deepEqual(kernel.calls.filter((c) => c !== 'setLinkUp'), []);
    assert.deepEqual(snapshot(kernel), before);
  });

  test('a DHCP client that is gone is started again, though the address it leased stays (no renewals otherwise)', async () => {
    const { kernel, ctx, dhcp } = world();
    await ifup(ctx, 'eth1');
    // What a restart of the unit whose cgroup held the client does: the client dies, its address (no lifetime) stays.
    dhcp.running.delete('eth1');
    const before = snapshot(kernel);
    await ifup(ctx, 'eth1');
    assert.ok(dhcp.running.has('eth1'), 'the client was not started again');
    assert.deepEqual(snapshot(kernel), before);
    // With the client running, a further run starts nothing.
    let ups = 0;
    const up = dhcp.up.bind(dhcp);
    dhcp.up = async (ifname: string) => {
      ups++;
      await up(ifname);
    };
    await ifup(ctx, 'eth1');
    assert.equal(ups, 0);
  });

  test("once its rule is in place, IMDS requests leave from the interface's own address", async () => {
    const { imds, ctx } = world();
    await ifup(ctx, 'eth1');
    const first = imds.sources.splice(0);
    assert.ok(first.length > 0 && first.every((s) => s === ''), 'no rule yet: the default source');
    await ifup(ctx, 'eth1');
    assert.ok(imds.sources.length > 0 && imds.sources.every((s) => s === '10.0.2.10'), imds.sources.join(','));
  });

  test('a Transient IMDS answer removes nothing and names the key', async () => {
    const { kernel, imds, ctx } = world();
    await ifup(ctx, 'eth1');
    const before = snapshot(kernel);
    imds.fail(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, { status: 503 });
    await assert.rejects(ifup(ctx, 'eth1'), (e: unknown) => e instanceof Ec2netError && e.kind === 'Transient' && String(e.fields.key).endsWith('local-ipv4s') && /503/.test(e.message));
    assert.deepEqual(snapshot(kernel), before);
  });

  test('assigning and unassigning a secondary IP adds and removes its address and rule only', async () => {
    const { kernel, imds, ctx } = world();
    kernel.rules_.push(FOREIGN_RULE);
    kernel.addresses_.push({ family: 4, dev: 'eth1', address: '10.0.2.99/32' });
    await ifup(ctx, 'eth1');
    kernel.routes_.push(FOREIGN_ROUTE);
    imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.11\n10.0.2.12\n10.0.2.13');
    await ifup(ctx, 'eth1');
    assert.ok(kernel.rules_.some((r) => r.src === '10.0.2.13/32' && r.protocol === P));
    assert.ok(kernel.addresses_.some((a) => a.address === '10.0.2.13/32'));
    imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.12');
    await ifup(ctx, 'eth1');
    assert.deepEqual(sortRules(kernel.rules_.filter((r) => r.protocol === P)), ['10.0.2.10/32 10001 10001 236', '10.0.2.12/32 10001 10001 236']);
    assert.deepEqual(kernel.addresses_.filter((a) => a.dev === 'eth1').map((a) => a.address).sort(), ['10.0.2.10/24', '10.0.2.12/32', '10.0.2.99/32']);
    assert.ok(kernel.rules_.includes(FOREIGN_RULE) || kernel.rules_.some((r) => r.protocol === 4 && r.priority === 512));
    assert.ok(kernel.routes_.some((r) => r.dst === '192.168.7.0/24' && r.protocol === 4));
  });

  test('device-number 0 for a non-primary MAC is waited out, not trusted', async () => {
    const { kernel, imds, ctx } = world();
    imds.sequence(`network/interfaces/macs/${ETH1.mac}/device-number`, ['0', '0', '0', '1']);
    await ifup(ctx, 'eth1');
    assert.ok(kernel.rules_.every((r) => r.table === 10001));
    assert.ok(kernel.rules_.length === 3);
  });

  test('keys answering 404 while the ENI propagates are retried, then configured', async () => {
    const { kernel, imds, ctx } = world();
    imds.fail(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, { status: 404 }, 3);
    await ifup(ctx, 'eth1');
    assert.equal(kernel.rules_.length, 3);
  });

  test('the primary ENI gets its secondary addresses, no rules, and no files', async () => {
    const { kernel, ctx, root } = world();
    await ifup(ctx, 'eth0');
    assert.deepEqual(kernel.rules_, []);
    assert.ok(kernel.addresses_.some((a) => a.dev === 'eth0' && a.address === '10.0.1.11/32'));
    assert.equal(existsSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth0`), false);
  });

  test('PRIMARY_RULES=yes gives the primary ENI rules in table 10000', async () => {
    const kernel = new FakeKernel({ links_: [{ index: 2, name: 'eth0', mac: ETH0.mac, up: true, altnames: [] }], addresses_: [{ family: 4, dev: 'eth0', address: '10.0.1.10/24' }] });
    const { ctx } = fakeContext(kernel, FakeImds.of([ETH0]), { primaryRules: true });
    await ifup(ctx, 'eth0');
    assert.deepEqual(sortRules(kernel.rules_), ['10.0.1.10/32 10000 10000 236', '10.0.1.11/32 10000 10000 236']);
    assert.equal(kernel.routes_.filter((r) => r.table === 254 && r.protocol === P).length, 0);
  });

  test('EC2SYNC=no leaves the interface alone', async () => {
    const { kernel, ctx, root } = world();
    mkdirSync(`${root}/etc/sysconfig/network-scripts`, { recursive: true });
    writeFileSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth1`, 'DEVICE=eth1\nEC2SYNC=no\n');
    const before = snapshot(kernel);
    const r = await ifup(ctx, 'eth1');
    assert.match(r.skipped ?? '', /EC2SYNC=no/);
    assert.deepEqual(snapshot(kernel), before);
    assert.equal(readFileSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth1`, 'utf8'), 'DEVICE=eth1\nEC2SYNC=no\n');
  });

  test('MAINROUTETABLE=no: no main-table default; EC2PROVISIONPFXIPS=yes: all 16 prefix addresses', async () => {
    const { kernel, ctx, root } = world();
    mkdirSync(`${root}/etc/sysconfig/network-scripts`, { recursive: true });
    writeFileSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth2`, 'DEVICE=eth2\nMAINROUTETABLE=no\nEC2PROVISIONPFXIPS=yes\n');
    await ifup(ctx, 'eth2');
    assert.equal(kernel.routes_.filter((r) => r.table === 254 && r.protocol === P).length, 0);
    const pfx = kernel.addresses_.filter((a) => a.dev === 'eth2' && /^10\.0\.1\.(4[89]|5\d|6[0-3])\/32$/.test(a.address));
    assert.equal(pfx.length, 16);
    assert.ok(kernel.rules_.some((r) => r.src === '10.0.1.48/28' && r.table === 10002));
    const ifcfg = readFileSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth2`, 'utf8');
    assert.match(ifcfg, /\nEC2PROVISIONPFXIPS=yes\nMAINROUTETABLE=no\n$/);
    assert.doesNotMatch(readFileSync(`${root}/etc/sysconfig/network-scripts/route-eth2`, 'utf8'), /metric/);
  });

  test('no ifcfg directory (Debian): no ifcfg, route or dhclient file and no such directory; the flags come from ec2net.conf', async () => {
    const { kernel, ctx, root, dhcp } = world();
    rmSync(`${root}/etc`, { recursive: true, force: true });
    const config = { ...ctx.config, mainRouteTable: false, provisionPrefixIps: true };
    const debian = { ...ctx, config, backend: ifcfgBackend(ctx.paths, config, dhcp) };
    const result = await ifup(debian, 'eth2');
    assert.equal(result.changed, true);
    assert.deepEqual(filesUnder(`${root}/etc`), ['udev/rules.d/70-ec2net-persistent-net.rules']);
    assert.equal(kernel.routes_.filter((r) => r.table === 254 && r.protocol === P).length, 0);
    assert.equal(kernel.addresses_.filter((a) => a.dev === 'eth2' && /^10\.0\.1\.(4[89]|5\d|6[0-3])\/32$/.test(a.address)).length, 16);
    assert.ok(kernel.rules_.some((r) => r.src === '10.0.1.48/28' && r.table === 10002));
    // Converged: a second run changes nothing and still writes nothing.
    assert.equal((await ifup(debian, 'eth2')).changed, false);
    assert.deepEqual(filesUnder(`${root}/etc`), ['udev/rules.d/70-ec2net-persistent-net.rules']);
  });

  test('an interface that never gets its DHCP address ends in a bounded error and releases its lock', async () => {
    const { ctx, dhcp, clock } = world();
    dhcp.leases.delete('eth1');
    const t0 = clock.now();
    await assert.rejects(ifup(ctx, 'eth1'), (e: unknown) => e instanceof Ec2netError && e.kind === 'Transient' && /DHCP/.test(e.message));
    assert.ok(clock.now() - t0 >= DHCP_WAIT_MS && clock.now() - t0 < DHCP_WAIT_MS + 5_000, `waited ${clock.now() - t0} ms`);
    const lock = await acquireLock(lockPath(ctx.paths, 'eth1'), clock.sleep, clock.now, 0);
    await lock.release();
  });

  test('an activator with a fallback (networkd) restarts the interface when DHCP has not delivered, within the same bound', async () => {
    const { ctx, dhcp, clock } = world();
    const lease = dhcp.leases.get('eth1') as string;
    dhcp.leases.delete('eth1');
    const calls: string[] = [];
    const activator = {
      kind: 'networkctl' as const,
      up: async (ifname: string) => {
        calls.push('up');
        await dhcp.up(ifname); // no lease: the address never comes, as networkd was seen to hold it
      },
      restart: {
        afterMs: 20_000,
        run: async (ifname: string) => {
          calls.push('restart');
          dhcp.leases.set(ifname, lease);
          await dhcp.up(ifname);
        },
      },
      isRunning: async () => true,
      down: (ifname: string) => dhcp.down(ifname),
      forget: (ifname: string) => dhcp.forget(ifname),
    };
    const t0 = clock.now();
    await ifup({ ...ctx, backend: { ...ctx.backend, activator } }, 'eth1');
    assert.deepEqual(calls, ['up', 'restart']);
    assert.ok(clock.now() - t0 >= 20_000 && clock.now() - t0 < DHCP_WAIT_MS, `waited ${clock.now() - t0} ms`);

    // Never delivered: one restart, and the error at the usual bound.
    const w = world();
    w.dhcp.leases.delete('eth1');
    const tried: string[] = [];
    const never = { ...activator, up: async () => void tried.push('up'), restart: { afterMs: 20_000, run: async () => void tried.push('restart') } };
    const t1 = w.clock.now();
    await assert.rejects(ifup({ ...w.ctx, backend: { ...w.ctx.backend, activator: never } }, 'eth1'), (e: unknown) => e instanceof Ec2netError && /DHCP/.test(e.message));
    assert.deepEqual(tried, ['up', 'restart']);
    assert.ok(w.clock.now() - t1 >= DHCP_WAIT_MS && w.clock.now() - t1 < DHCP_WAIT_MS + 5_000, `waited ${w.clock.now() - t1} ms`);
  });

  test('an interface whose MAC stays all zeroes ends in a bounded error', async () => {
    const { ctx, kernel, clock } = world();
    kernel.links_ = kernel.links_.map((l) => (l.name === 'eth1' ? { ...l, mac: '00:00:00:00:00:00' } : l));
    await assert.rejects(ifup(ctx, 'eth1'), (e: unknown) => e instanceof Ec2netError && e.kind === 'Transient' && /MAC/.test(e.message));
    assert.ok(clock.sleeps.reduce((a, b) => a + b, 0) <= MAC_WAIT_MS + 1_000);
  });

  test('lo, or a tunnel, is refused at once as never an ENI (NotEthernet, not retryable), with no wait for its MAC', async () => {
    const { ctx, kernel, clock } = world();
    kernel.links_ = kernel.links_.map((l) => (l.name === 'lo' ? { ...l, arpType: 772 } : l));
    kernel.links_.push({ index: 9, name: 'gre1', mac: '00:00:00:00:00:00', up: true, altnames: [], arpType: 778 });
    for (const [name, says] of [['lo', /^lo is not an ENI \(a loopback link\)$/], ['gre1', /^gre1 is not an ENI \(not an Ethernet link\)$/]] as const) {
      await assert.rejects(ifup(ctx, name), (e: unknown) => e instanceof Ec2netError && e.kind === 'NotEthernet' && !e.retryable && says.test(e.message));
    }
    assert.deepEqual(clock.sleeps, []);
  });

  test('an interface whose MAC IMDS does not list is not an ENI', async () => {
    const { ctx, kernel } = world();
    kernel.links_.push({ index: 9, name: 'docker0', mac: '02:42:ac:11:00:01', up: true, altnames: [] });
    await assert.rejects(ifup(ctx, 'docker0'), (e: unknown) => e instanceof Ec2netError && e.kind === 'NotAnEni');
  });

  test('an invalid IMDS value is refused: nothing is written or applied', async () => {
    const { kernel, imds, ctx, root } = world();
    imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.11;reboot');
    const before = snapshot(kernel);
    await assert.rejects(ifup(ctx, 'eth1'), (e: unknown) => e instanceof Ec2netError && e.kind === 'InvalidMetadata' && String(e.fields.key) === 'local-ipv4s');
    assert.deepEqual(snapshot(kernel), before);
    assert.deepEqual(filesUnder(`${root}/etc`), []);
  });

  test('an unreadable ifcfg file is a clear error and changes nothing', async () => {
    const { kernel, ctx, root } = world();
    mkdirSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth1`, { recursive: true }); // a directory: EISDIR
    const before = snapshot(kernel);
    await assert.rejects(ifup(ctx, 'eth1'), (e: unknown) => e instanceof Ec2netError && e.kind === 'InvalidArgument');
    assert.deepEqual(snapshot(kernel), before);
  });
});

const ETH1_V6: FakeEni = {
  ...ETH1,
  ipv6s: ['2001:db8:2::10', '2001:db8:2::11'],
  ipv6Prefixes: ['2001:db8:2:0:1234::/80'],
  subnet6: '2001:db8:2::/64',
};
const ROUTER6 = 'fe80::e2:eff:fe00:2';

describe("ec2ifup, the primary's routes at a high metric", () => {
  test("the secondary's main-table default and RA metric rank behind the primary's, whatever the image gave it", async () => {
    const { kernel, ctx, root } = world();
    kernel.routes_ = kernel.routes_.map((r) => (r.dev === 'eth0' ? { ...r, metric: 20_000 } : r));
    await ifup(ctx, 'eth1');
    const main = kernel.routes_.find((r) => r.table === 254 && r.dev === 'eth1' && r.protocol === P);
    assert.equal(main?.metric, 20_001);
    assert.match(readFileSync(`${root}/etc/sysconfig/network-scripts/route-eth1`, 'utf8'), /metric 20001\n$/);
    // Back at 0: the numbering is v1's again, and the route moves.
    kernel.routes_ = kernel.routes_.map((r) => (r.dev === 'eth0' ? { ...r, metric: 0 } : r));
    await ifup(ctx, 'eth1');
    assert.deepEqual(kernel.routes_.filter((r) => r.table === 254 && r.dev === 'eth1' && r.protocol === P).map((r) => r.metric), [10001]);
  });
});

describe('ec2ifup, two ENIs given one device-number', () => {
  test("IMDS gives eth1 the device-number of a live eth2: Conflict naming both and the table, nothing changed", async () => {
    const { kernel, ctx, imds } = world();
    await ifup(ctx, 'eth1');
    await ifup(ctx, 'eth2');
    const before = snapshot(kernel);
    // While a freshly attached ENI propagates IMDS can answer another's device-number (DESIGN.md, "IMDS facts").
    imds.set(`network/interfaces/macs/${ETH1.mac}/device-number`, '2');
    await assert.rejects(
      ifup(ctx, 'eth1'),
      (e: unknown) =>
        e instanceof Ec2netError && e.kind === 'Conflict' && e.retryable && /routing table 10002 belongs to eni-00000000000000003 on eth2/.test(e.message) && e.message.includes(ETH1.id),
    );
    assert.deepEqual(snapshot(kernel), before);
    assert.equal((await readRecord(ctx, ETH1.mac))?.table, 10001, "eth1's record is as it was");

    // Settled: the same run converges.
    imds.set(`network/interfaces/macs/${ETH1.mac}/device-number`, '1');
    assert.equal((await ifup(ctx, 'eth1')).changed, false);
  });

  test('a table held by routes of ours on another present interface, with no record, is refused too', async () => {
    const { kernel, ctx } = world();
    kernel.routes_.push({ family: 4, table: 10001, dst: '0.0.0.0/0', dev: 'eth2', gateway: '10.0.1.1', metric: 0, scope: 'universe', protocol: P });
    await assert.rejects(ifup(ctx, 'eth1'), (e: unknown) => e instanceof Ec2netError && e.kind === 'Conflict' && /the ENI on eth2/.test(e.message));
    assert.equal(kernel.rules_.filter((r) => r.protocol === P).length, 0);
  });
});

describe('UNMANAGED in ec2net.conf (an ENI another agent owns, as the VPC CNI owns secondary ENIs on EKS nodes)', () => {
  const unmanaged = (ctx: ReturnType<typeof world>['ctx'], value: string) => ({ ...ctx, config: { ...ctx.config, unmanaged: parseConfig(`UNMANAGED="${value}"\n`, '/x').unmanaged } });

  test('ec2ifup and ec2ifscan leave it alone, record why, and status shows it; ec2ifdown leaves it alone too', async () => {
    const w = world();
    const ctx = unmanaged(w.ctx, 'device-number=2-');
    const before = snapshot(w.kernel);
    const r = await ifup(ctx, 'eth2');
    assert.equal(r.unmanaged, 'device-number=2-');
    assert.match(r.skipped ?? '', /UNMANAGED=device-number=2- in ec2net.conf/);
    assert.deepEqual(snapshot(w.kernel), before);
    assert.equal(w.kernel.links_.find((l) => l.name === 'eth2')?.up, false, 'the link is not touched');
    assert.equal(w.dhcp.running.has('eth2'), false, 'no DHCP client started');
    assert.equal(existsSync(`${w.root}/etc/sysconfig/network-scripts/ifcfg-eth2`), false, 'no file written');
    assert.equal((await readRecord(ctx, ETH2.mac))?.unmanaged, 'device-number=2-');

    const result = await scan(ctx);
    assert.deepEqual(result.unmanaged, ['eth2']);
    assert.deepEqual(result.configured.map((x) => x.ifname).sort(), ['eth0', 'eth1']);
    const status = await interfaceStatus(ctx);
    assert.equal(status.find((x) => x.ifname === 'eth2')?.unmanaged, 'device-number=2-');
    assert.match(formatStatus({ daemonRunning: false, interfaces: status }), /eth2 .*UNMANAGED \(UNMANAGED=device-number=2- in ec2net\.conf\)/);
    assert.equal(status.find((x) => x.ifname === 'eth1')?.unmanaged, undefined);

    w.kernel.links_ = w.kernel.links_.map((l) => (l.name === 'eth2' ? { ...l, up: true } : l));
    assert.match((await ifdown(ctx, 'eth2')).skipped ?? '', /UNMANAGED/);
    assert.equal(w.kernel.links_.find((l) => l.name === 'eth2')?.up, true);
  });

  test('by name or MAC, ec2ifdown leaves it alone whatever its record says', async () => {
    const w = world();
    await ifup(w.ctx, 'eth1');
    const before = snapshot(w.kernel);
    assert.match((await ifdown(unmanaged(w.ctx, ETH1.mac), 'eth1')).skipped ?? '', /UNMANAGED/);
    assert.match((await ifdown(unmanaged(w.ctx, 'eth1'), 'eth1')).skipped ?? '', /UNMANAGED/);
    assert.deepEqual(snapshot(w.kernel), before);
  });
});

describe('ec2ifup, an IPv6-only network interface', () => {
  // AWS EC2 User Guide, instance metadata categories: for an IPv6-only network interface local-ipv4s "is not set and
  // results in an HTTP 404 response", and the interface has no subnet-ipv4-cidr-block.
  const ONLY6: FakeEni = { mac: '02:00:00:00:00:06', id: 'eni-00000000000000006', deviceNumber: 1, subnet: '', ipv4s: [], ipv6s: ['2001:db8:6::10', '2001:db8:6::11'], subnet6: '2001:db8:6::/64' };

  test('configured with IPv6 rules and routes only: no DHCPv4, no IPv4 rule or route', async () => {
    const { kernel, ctx, dhcp } = world([ETH0, ONLY6]);
    kernel.raOnLinkUp.set('eth1', ROUTER6);
    await ifup(ctx, 'eth1');
    assert.deepEqual(kernel.rules_.filter((r) => r.protocol === P).map((r) => r.src).sort(), ['2001:db8:6::10/128', '2001:db8:6::11/128']);
    assert.deepEqual(kernel.routes_.filter((r) => r.protocol === P).map((r) => `${r.table} ${r.dst}`).sort(), ['10001 2001:db8:6::/64', '10001 ::/0']);
    assert.equal(dhcp.running.has('eth1'), false, 'no DHCPv4 client');
    assert.equal(kernel.links_.find((l) => l.name === 'eth1')?.up, true);
    assert.deepEqual((await readRecord(ctx, ONLY6.mac))?.addresses.slice().sort(), ['2001:db8:6::10/128', '2001:db8:6::11/128']);
    assert.equal((await ifup(ctx, 'eth1')).changed, false);
  });

  test('while its IPv6 keys are missing too, the 404s are propagation: waited out, then configured', async () => {
    const { kernel, ctx, imds } = world([ETH0, ONLY6]);
    kernel.raOnLinkUp.set('eth1', ROUTER6);
    const base = `network/interfaces/macs/${ONLY6.mac}/`;
    // Three readings in which its IPv6 keys answer 404 as well: not yet distinguishable from an ENI propagating.
    imds.fail(`${base}ipv6s`, { status: 404 }, 3);
    imds.fail(`${base}subnet-ipv6-cidr-blocks`, { status: 404 }, 3);
    await ifup(ctx, 'eth1');
    assert.equal(imds.faults.get(`${base}ipv6s`)?.times, 0, 'the 404s were waited out');
    assert.equal(kernel.rules_.filter((r) => r.protocol === P).length, 2);
  });

  test('an ENI with neither IPv4 nor IPv6 keys is never taken for IPv6-only: Transient after the propagation bound', async () => {
    const { ctx, imds } = world([ETH0, ONLY6]);
    imds.set(`network/interfaces/macs/${ONLY6.mac}/ipv6s`, undefined);
    await assert.rejects(ifup(ctx, 'eth1'), (e: unknown) => e instanceof Ec2netError && e.kind === 'Transient' && /local-ipv4s/.test(e.message));
  });
});

describe('ec2ifup, IPv6', () => {
  test('every ipv6s address goes on; rules per address and prefix; the table default via the RA-learned router', async () => {
    const { kernel, ctx, root } = world([ETH0, ETH1_V6]);
    kernel.raOnLinkUp.set('eth1', ROUTER6);
    await ifup(ctx, 'eth1');
    const v6rules = kernel.rules_.filter((r) => r.family === 6).map((r) => `${r.src} ${r.table} ${r.priority} ${r.protocol}`).sort();
    assert.deepEqual(v6rules, ['2001:db8:2:0:1234::/80 10001 10001 236', '2001:db8:2::10/128 10001 10001 236', '2001:db8:2::11/128 10001 10001 236']);
    const v6routes = kernel.routes_.filter((r) => r.family === 6 && r.protocol === P).map((r) => `${r.table} ${r.dst} ${r.gateway ?? '-'} ${r.metric}`).sort();
    assert.deepEqual(v6routes, [`10001 2001:db8:2::/64 - 1024`, `10001 ::/0 ${ROUTER6} 1024`]);
    assert.deepEqual(kernel.addresses_.filter((a) => a.family === 6).map((a) => a.address).sort(), ['2001:db8:2::10/128', '2001:db8:2::11/128']);
    assert.equal(readFileSync(`${root}/etc/sysconfig/network-scripts/route6-eth1`, 'utf8'), `default via ${ROUTER6} dev eth1 table 10001\n`);
    // The kernel's RA default route in the main table ranks behind the primary's, as the IPv4 one does.
    assert.equal(kernel.raMetrics.get('eth1'), 10001);
    assert.equal(kernel.routes_.find((r) => r.protocol === 9)?.metric, 10001);
  });

  test('an RA default learned before the metric was set (link already up) is removed at once; the next RA adds it at the metric', async () => {
    const { kernel, ctx } = world([ETH0, ETH1_V6]);
    kernel.links_ = kernel.links_.map((l) => (l.name === 'eth1' ? { ...l, up: true } : l));
    kernel.routes_.push({ family: 6, table: 254, dst: '::/0', dev: 'eth1', gateway: ROUTER6, metric: 1024, scope: 'universe', protocol: 9 });
    // The primary's RA default at the same 1024, which eth1's tied with.
    kernel.routes_.push({ family: 6, table: 254, dst: '::/0', dev: 'eth0', gateway: 'fe80::1', metric: 1024, scope: 'universe', protocol: 9 });
    await ifup(ctx, 'eth1');
    assert.deepEqual(kernel.routes_.filter((r) => r.protocol === 9).map((r) => `${r.dev} ${r.metric}`), ['eth0 1024']);
    assert.equal(kernel.raMetrics.get('eth1'), 10001);
    // The router is still known: the table's default stays.
    assert.ok(kernel.routes_.some((r) => r.table === 10001 && r.dst === '::/0' && r.gateway === ROUTER6));
  });

  test('an address DHCPv6 already put on with its own prefix length is not added twice', async () => {
    const { kernel, ctx } = world([ETH0, ETH1_V6]);
    kernel.raOnLinkUp.set('eth1', ROUTER6);
    kernel.addresses_.push({ family: 6, dev: 'eth1', address: '2001:db8:2::10/64' });
    await ifup(ctx, 'eth1');
    assert.deepEqual(kernel.addresses_.filter((a) => a.family === 6).map((a) => a.address).sort(), ['2001:db8:2::10/64', '2001:db8:2::11/128']);
    kernel.calls.length = 0;
    assert.equal((await ifup(ctx, 'eth1')).changed, false);
  });

  test('no RA within the bound: everything else is applied, the run fails Transient, the next run completes', async () => {
    const { kernel, ctx, root } = world([ETH0, ETH1_V6]);
    await assert.rejects(ifup(ctx, 'eth1'), (e: unknown) => e instanceof Ec2netError && e.kind === 'Transient' && /router advertisement/.test(e.message));
    assert.equal(kernel.rules_.filter((r) => r.protocol === P).length, 6, 'IPv4 and IPv6 rules are in place');
    assert.equal(kernel.routes_.some((r) => r.family === 6 && r.dst === '::/0' && r.protocol === P), false);
    assert.equal(existsSync(`${root}/etc/sysconfig/network-scripts/route6-eth1`), false);
    kernel.routes_.push({ family: 6, table: 254, dst: '::/0', dev: 'eth1', gateway: ROUTER6, metric: 10001, scope: 'universe', protocol: 9 });
    await ifup(ctx, 'eth1');
    assert.ok(kernel.routes_.some((r) => r.family === 6 && r.table === 10001 && r.dst === '::/0' && r.gateway === ROUTER6 && r.protocol === P));
  });

  test('a lapsed RA route does not take the table default away: the last router stands', async () => {
    const { kernel, ctx } = world([ETH0, ETH1_V6]);
    kernel.raOnLinkUp.set('eth1', ROUTER6);
    await ifup(ctx, 'eth1');
    kernel.routes_ = kernel.routes_.filter((r) => r.protocol !== 9);
    kernel.calls.length = 0;
    await ifup(ctx, 'eth1');
    assert.deepEqual(kernel.calls.filter((c) => c !== 'setLinkUp'), []);
    assert.ok(kernel.routes_.some((r) => r.family === 6 && r.table === 10001 && r.dst === '::/0' && r.protocol === P));
  });

  test('an IPv6-only ENI (169.254 address, no IPv4 subnet block) gets IPv6 rules only and no DHCPv4 wait', async () => {
    const v6only: FakeEni = { mac: '02:00:00:00:00:09', id: 'eni-00000000000000009', deviceNumber: 1, subnet: '', ipv4s: ['169.254.10.9'], ipv6s: ['2001:db8:9::10'], subnet6: '2001:db8:9::/64' };
    const { kernel, imds, ctx, dhcp } = world([ETH0, v6only]);
    imds.set(`network/interfaces/macs/${v6only.mac}/subnet-ipv4-cidr-block`, undefined);
    dhcp.leases.delete('eth1');
    kernel.raOnLinkUp.set('eth1', ROUTER6);
    await ifup(ctx, 'eth1');
    assert.deepEqual(kernel.rules_.filter((r) => r.protocol === P).map((r) => `${r.family} ${r.src}`), ['6 2001:db8:9::10/128']);
    assert.equal(kernel.routes_.some((r) => r.family === 4 && r.protocol === P), false);
    assert.equal(kernel.addresses_.some((a) => a.dev === 'eth1' && a.family === 4), false);
  });

  test('ec2ifdown removes the IPv6 rules, routes and addresses it added', async () => {
    const { kernel, ctx } = world([ETH0, ETH1_V6]);
    kernel.raOnLinkUp.set('eth1', ROUTER6);
    await ifup(ctx, 'eth1');
    await ifdown(ctx, 'eth1');
    assert.equal(kernel.rules_.some((r) => r.protocol === P), false);
    assert.equal(kernel.routes_.some((r) => r.protocol === P), false);
    assert.equal(kernel.addresses_.some((a) => a.family === 6), false);
    assert.ok(kernel.routes_.some((r) => r.protocol === 9), 'the kernel\'s RA route is not ours to remove');
  });
});

describe('ec2ifup, multi-card numbering', () => {
  const CARD0: FakeEni = { mac: '02:00:00:00:00:01', id: 'eni-00000000000000001', deviceNumber: 0, networkCard: 0, subnet: '10.0.1.0/24', ipv4s: ['10.0.1.10'] };
  const CARD0_DEV1: FakeEni = { mac: '02:00:00:00:00:02', id: 'eni-00000000000000002', deviceNumber: 1, networkCard: 0, subnet: '10.0.2.0/24', ipv4s: ['10.0.2.10'] };
  const CARD1_DEV1: FakeEni = { mac: '02:00:00:00:00:03', id: 'eni-00000000000000003', deviceNumber: 1, networkCard: 1, subnet: '10.0.3.0/24', ipv4s: ['10.0.3.10'] };

  test('equal device numbers on cards 0 and 1 get tables 10001 and 10101', async () => {
    const { kernel, ctx } = world([CARD0, CARD0_DEV1, CARD1_DEV1]);
    await ifup(ctx, 'eth1');
    await ifup(ctx, 'eth2');
    assert.deepEqual(sortRules(kernel.rules_), ['10.0.2.10/32 10001 10001 236', '10.0.3.10/32 10101 10101 236']);
  });

  for (const [what, fault] of [
    ['404', (imds: FakeImds, path: string) => imds.fail(path, { status: 404 }, 3)],
    ['empty', (imds: FakeImds, path: string) => imds.sequence(path, ['', '', '1'])],
  ] as const) {
    test(`a ${what} network-card answer on a multi-card instance is retried, not read as card 0`, async () => {
      const { kernel, imds, ctx } = world([CARD0, CARD0_DEV1, CARD1_DEV1]);
      fault(imds, `network/interfaces/macs/${CARD1_DEV1.mac}/network-card`);
      await ifup(ctx, 'eth2');
      assert.deepEqual(sortRules(kernel.rules_), ['10.0.3.10/32 10101 10101 236']);
    });
  }

  test('64 ENIs on four cards (device numbers 0-15 on each): every ENI gets its own table', async () => {
    const enis: FakeEni[] = [];
    for (let card = 0; card < 4; card++) {
      for (let device = 0; device < 16; device++) {
        const n = card * 16 + device;
        const hex = n.toString(16).padStart(2, '0');
        enis.push({ mac: `02:00:00:00:01:${hex}`, id: `eni-000000000000001${hex}`, deviceNumber: device, networkCard: card, subnet: '10.0.4.0/22', ipv4s: [`10.0.${4 + (n >> 6)}.${10 + n}`] });
      }
    }
    const { kernel, ctx } = world(enis);
    const result = await scan(ctx);
    assert.deepEqual(result.failed, []);
    const tableOf = new Map<string, number>();
    for (const r of kernel.rules_) tableOf.set(r.src, r.table);
    // The primary (card 0, device 0) has no rules: 63 secondary ENIs, 63 distinct tables, as numbered.
    assert.equal(tableOf.size, 63);
    assert.equal(new Set(tableOf.values()).size, 63);
    for (const e of enis.slice(1)) assert.equal(tableOf.get(`${e.ipv4s[0]}/32`), 10000 + 100 * (e.networkCard ?? 0) + Number(e.deviceNumber));
  });

  test('on a single-card instance (no network-card key anywhere) the absent key is card 0', async () => {
    const { kernel, ctx, imds } = world([ETH0, ETH1]);
    await ifup(ctx, 'eth1');
    assert.deepEqual(sortRules(kernel.rules_).map((r) => r.split(' ')[1]), ['10001', '10001', '10001']);
    assert.equal(imds.requests.filter((r) => r.endsWith(`${ETH0.mac}/network-card`)).length, 1, 'one extra question, asked once per round');
  });
});

describe('ec2ifdown', () => {
  test("removes that ENI's rules, routes and addresses only", async () => {
    const { kernel, ctx, dhcp } = world();
    kernel.rules_.push(FOREIGN_RULE);
    await ifup(ctx, 'eth1');
    await ifup(ctx, 'eth2');
    kernel.routes_.push(FOREIGN_ROUTE);
    await ifdown(ctx, 'eth1');
    assert.deepEqual(kernel.rules_.filter((r) => r.table === 10001 && r.protocol === P), []);
    assert.deepEqual(kernel.routes_.filter((r) => r.dev === 'eth1' && r.protocol === P), []);
    assert.deepEqual(kernel.addresses_.filter((a) => a.dev === 'eth1'), []);
    assert.equal(dhcp.running.has('eth1'), false);
    assert.equal(kernel.rules_.filter((r) => r.table === 10002).length, 3);
    assert.ok(kernel.rules_.some((r) => r.protocol === 4 && r.priority === 512));
    assert.ok(kernel.routes_.some((r) => r.dst === '192.168.7.0/24'));
  });

  test('as v1 did: the link goes down too, and the record says down, so automatic runs leave it until ec2ifup', async () => {
    const { kernel, ctx, dhcp } = world();
    await ifup(ctx, 'eth1');
    await ifdown(ctx, 'eth1');
    assert.equal(kernel.links_.find((l) => l.name === 'eth1')?.up, false);
    const record = await readRecord(ctx, ETH1.mac);
    assert.equal(record?.down, true);
    assert.deepEqual(record?.addresses, []);
    // The daemon's and ec2ifscan's runs.
    const automatic = await ifup(ctx, 'eth1', { automatic: true });
    assert.equal(automatic.down, true);
    const scanned = await scan(ctx);
    assert.ok(scanned.down.includes('eth1'));
    assert.ok(!scanned.configured.some((r) => r.ifname === 'eth1'));
    assert.equal(kernel.rules_.filter((r) => r.table === 10001).length, 0);
    assert.equal(dhcp.running.has('eth1'), false);
    // An admin's ec2ifup brings it back and clears the mark.
    await ifup(ctx, 'eth1');
    assert.equal(kernel.links_.find((l) => l.name === 'eth1')?.up, true);
    assert.equal(kernel.rules_.filter((r) => r.table === 10001).length, 3);
    assert.equal((await readRecord(ctx, ETH1.mac))?.down, undefined);
  });

  test('the primary ENI keeps its link and DHCP: only what ec2net added goes', async () => {
    const { kernel, ctx, dhcp } = world();
    await ifup(ctx, 'eth0');
    assert.ok(kernel.addresses_.some((a) => a.address === '10.0.1.11/32'));
    await ifdown(ctx, 'eth0');
    assert.equal(kernel.links_.find((l) => l.name === 'eth0')?.up, true);
    assert.ok(kernel.addresses_.some((a) => a.address === '10.0.1.10/24'));
    assert.ok(!kernel.addresses_.some((a) => a.address === '10.0.1.11/32'));
    assert.equal(dhcp.running.has('eth0'), false);
  });
});

describe('ec2ifscan', () => {
  test('configures every unconfigured ENI and skips configured ones', async () => {
    const { kernel, ctx } = world();
    kernel.links_.push({ index: 9, name: 'docker0', mac: '02:42:ac:11:00:01', up: true, altnames: [] });
    const first = await scan(ctx);
    assert.deepEqual(first.configured.map((r) => r.ifname).sort(), ['eth0', 'eth1', 'eth2']);
    assert.deepEqual(first.failed, []);
    assert.equal(kernel.rules_.filter((r) => r.protocol === P).length, 3 + 3);
    const second = await scan(ctx);
    assert.deepEqual(second.configured, []);
    assert.deepEqual(second.alreadyConfigured.sort(), ['eth0', 'eth1', 'eth2']);
  });

  test('at boot, an IMDS that cannot be reached yet (no address on the primary) is waited for, within its bound', async () => {
    // The token request is the first to leave: ENETUNREACH while the primary has no address.
    const { ctx, imds, clock } = world();
    imds.fail('/latest/api/token', { error: 'unreachable' }, 40);
    await assert.rejects(scan(ctx), (e: unknown) => e instanceof Ec2netError && e.kind === 'Transient');
    assert.ok((imds.faults.get('/latest/api/token')?.times ?? 0) > 0, 'the first scan used up the outage');
    const t0 = clock.now();
    const late = await scan(ctx, { imdsWaitMs: BOOT_IMDS_WAIT_MS });
    assert.equal(imds.faults.get('/latest/api/token')?.times, 0);
    assert.deepEqual(late.configured.map((r) => r.ifname).sort(), ['eth0', 'eth1', 'eth2']);
    assert.ok(clock.now() - t0 < BOOT_IMDS_WAIT_MS);

    // Never reachable: Transient once the bound has passed, not sooner and not much later.
    const never = world();
    never.imds.fail('/latest/api/token', { error: 'unreachable' });
    const t1 = never.clock.now();
    await assert.rejects(scan(never.ctx, { imdsWaitMs: BOOT_IMDS_WAIT_MS }), (e: unknown) => e instanceof Ec2netError && e.kind === 'Transient');
    const waited = never.clock.now() - t1;
    assert.ok(waited >= BOOT_IMDS_WAIT_MS - 10_000 && waited <= BOOT_IMDS_WAIT_MS + 30_000, `waited ${waited} ms`);
  });
});

test('an ENI keeps its name: the first name a MAC is seen under is written as a udev rule', async () => {
  const { ctx, root, kernel } = world();
  await ifup(ctx, 'eth1');
  const rules = () => readFileSync(`${root}/etc/udev/rules.d/70-ec2net-persistent-net.rules`, 'utf8');
  assert.match(rules(), /ATTR\{address\}=="02:00:00:00:00:02".*NAME="eth1"/);
  // Seen again under another name (renamed by someone): the first name stays.
  kernel.links_ = kernel.links_.map((l) => (l.name === 'eth1' ? { ...l, name: 'ens6' } : l));
  kernel.addresses_ = kernel.addresses_.map((a) => (a.dev === 'eth1' ? { ...a, dev: 'ens6' } : a));
  kernel.routes_ = kernel.routes_.filter((r) => r.dev !== 'eth1');
  await ifup(ctx, 'ens6');
  assert.doesNotMatch(rules(), /ens6/);
  assert.equal(rules().split('\n').filter((l) => l.includes('NAME=')).length, 1);
});

test('the record of added addresses is keyed by MAC', async () => {
  const { ctx, root } = world();
  await ifup(ctx, 'eth1');
  assert.deepEqual(readdirSync(`${root}/run/ec2net/state`), ['020000000002.json']);
});

const linkOf = (kernel: FakeKernel, name: string) => kernel.links_.find((l) => l.name === name) as FakeKernel['links_'][number];

describe('ec2net plan --diff: what ec2ifup would change, against the files on disk and the kernel', () => {
  test('before ec2ifup: every file created, every rule, route and address added, the link to bring up', async () => {
    const { ctx, kernel } = world();
    const d = await planDiff(ctx, linkOf(kernel, 'eth1'));
    assert.deepEqual(d.files.map((f) => f.state), d.plan.files.map(() => 'created'));
    const route = d.files.find((f) => f.path.endsWith('/route-eth1'));
    assert.match(route?.diff ?? '', /^--- \/dev\/null\n\+\+\+ \S+\/route-eth1\n@@ -0,0 \+1,3 @@\n\+default via 10\.0\.2\.1 dev eth1 table 10001\n/);
    assert.equal(d.kernel.addRules.length, 3);
    assert.deepEqual(d.kernel.addAddresses.map((a) => a.address), ['10.0.2.11/32', '10.0.2.12/32']);
    assert.deepEqual(d.link, ['link eth1 is not up', 'missing DHCP address: 10.0.2.10 on eth1', `missing altname: ${ETH1.id} on eth1`, 'missing altname: device-number-1 on eth1', 'missing altname: device-number-1.0 on eth1']);
    const text = formatPlanDiff(d);
    assert.match(text, /^\+ rule    from 10\.0\.2\.11\/32 lookup 10001 priority 10001 proto 236$/m);
    assert.match(text, /^~ link eth1 is not up$/m);
    assert.doesNotMatch(text, /nothing to change|not root/);
  });

  test('after ec2ifup: nothing to change; then a deleted rule, an unassigned address and an edited file show', async () => {
    const { ctx, kernel, imds } = world();
    await ifup(ctx, 'eth1');
    const converged = await planDiff(ctx, linkOf(kernel, 'eth1'));
    assert.deepEqual(converged.files.map((f) => f.state), converged.plan.files.map(() => 'unchanged'));
    assert.match(formatPlanDiff(converged), /\nnothing to change\n$/);

    kernel.rules_ = kernel.rules_.filter((r) => r.src !== '10.0.2.10/32');
    imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.12');
    const ifcfg = `${ctx.paths.networkScripts}/ifcfg-eth1`;
    writeFileSync(ifcfg, readFileSync(ifcfg, 'utf8').replace('ONBOOT=yes', 'ONBOOT=no'));
    const text = formatPlanDiff(await planDiff(ctx, linkOf(kernel, 'eth1')));
    assert.match(text, /^\+ rule    from 10\.0\.2\.10\/32 lookup 10001/m);
    assert.match(text, /^- rule    from 10\.0\.2\.11\/32 lookup 10001/m);
    // The record says ec2net added it: it goes.
    assert.match(text, /^- address 10\.0\.2\.11\/32 dev eth1$/m);
    assert.match(text, /^-ONBOOT=no\n\+ONBOOT=yes$/m);
    assert.match(text, /^unchanged: \S+\/route-eth1$/m);
    assert.doesNotMatch(text, /nothing to change/);
  });
});

describe('ec2net status from the kernel alone (not root: the records are root\'s)', () => {
  test('each table of ec2net holding rules or routes, on the link its routes name, numbered back to card and device', async () => {
    const { ctx, kernel } = world();
    await ifup(ctx, 'eth1');
    // The same ENI seen from the records (root) and from the kernel alone agree on what the kernel holds.
    const [recorded] = (await interfaceStatus(ctx)).filter((s) => s.ifname === 'eth1');
    const [seen, ...more] = kernelStatus(await kernel.snapshot(), EC2NET_PROTOCOL);
    assert.deepEqual(more, [], 'the primary has no rules and no table routes of ours by default');
    assert.deepEqual(seen, { ...recorded, down: false });
    assert.equal(seen?.eniId, ETH1.id, 'read from the altname ec2ifup gave the link');
  });

  test('rules left by a device that is gone: listed without a link', () => {
    const rule = { family: 4 as const, src: '10.0.3.10/32', table: tableId(1, 3), priority: tableId(1, 3), protocol: EC2NET_PROTOCOL };
    const foreign = { ...rule, table: 10005, priority: 10005, protocol: 4 };
    const [s, ...rest] = kernelStatus({ links: [], rules: [rule, foreign], routes: [], addresses: [] }, EC2NET_PROTOCOL);
    assert.deepEqual(rest, [], 'a rule of another owner is not ec2net\'s');
    assert.deepEqual(
      { ifname: s?.ifname, mac: s?.mac, card: s?.networkCard, device: s?.deviceNumber, present: s?.present, rules: s?.rules },
      { ifname: '', mac: undefined, card: 1, device: 3, present: false, rules: ['from 10.0.3.10/32 lookup 10103 priority 10103 proto 236'] },
    );
    const text = formatStatus({ daemonRunning: undefined, interfaces: [s!], needsRoot: NEEDS_ROOT });
    assert.match(text, /^daemon: unknown \(its socket is root's\)\nnot root: shown as the kernel holds it; run as root for the rest:\n {2}- whether ec2netd runs/);
    assert.match(text, /^- {2}- {2}mac - {2}device 3 card 1 {2}table 10103 {2}\(device gone\)$/m);
  });

  test('table numbers map back to card and device; others are not ec2net\'s', () => {
    for (const [card, device] of [[0, 0], [0, 1], [1, 0], [3, 17], [99, 99]] as const) assert.deepEqual(eniOfTable(tableId(card, device)), { networkCard: card, deviceNumber: device });
    for (const t of [254, 9999, 20000, 10000.5]) assert.equal(eniOfTable(t), undefined);
  });
});
