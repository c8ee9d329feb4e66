/**
 * The Backend interface as the flows use it (ifcfg and networkd behind it), backend detection, and networkd's file
 * precedence, over a temporary file tree (EC2NET_ROOT).
 */
import { describe, test } from 'node:test';
import { fileTree } from '../support/tree.js';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { managedByNetworkManager } from '../../src/backends/backend.js';
import { networkdShadow, networkFiles } from '../../src/backends/networkd.js';
import { detectBackend } from '../../src/backends/select.js';
import { ifcfgBackend } from '../../src/backends/ifcfg.js';
import { networkdBackend } from '../../src/backends/networkd.js';
import { openBackend } from '../../src/backends/select.js';
import { parseConfig, type Config } from '../../src/config.js';
import type { Activator } from '../../src/ports/activation.js';
import { parseEniMetadata } from '../../src/model/metadata.js';
import { plan } from '../../src/planner/plan.js';
import type { EniRecord } from '../../src/reconcile/record.js';

const LINK = { index: 7, name: 'eth1', mac: '02:aa:00:00:00:02', up: false, altnames: [] };

const tree = fileTree;

describe('backend detection', () => {
  test('networkd where its state file exists, ifcfg otherwise; BACKEND overrides', async () => {
    const withNetworkd = tree({ 'run/systemd/netif/state': 'OPER_STATE=routable\n' });
    const without = tree({});
    assert.equal(await detectBackend(withNetworkd.paths, 'auto'), 'networkd');
    assert.equal(await detectBackend(without.paths, 'auto'), 'ifcfg');
    assert.equal(await detectBackend(withNetworkd.paths, 'ifcfg'), 'ifcfg');
    assert.equal(await detectBackend(without.paths, 'networkd'), 'networkd');
  });

  test('NetworkManager manages a link when it keeps a device file for its ifindex', async () => {
    const { paths } = tree({ 'run/NetworkManager/devices/7': '[device]\n' });
    assert.equal(await managedByNetworkManager(paths, LINK), true);
    assert.equal(await managedByNetworkManager(paths, { ...LINK, index: 8 }), false);
  });
});

describe("networkd's .network files", () => {
  test('/etc masks /run masks /usr/lib for the same name; a /dev/null symlink masks without being read', async () => {
    const { root, paths } = tree({
      'etc/systemd/network/10-a.network': 'etc\n',
      'run/systemd/network/10-a.network': 'run\n',
      'usr/lib/systemd/network/10-a.network': 'lib\n',
      'usr/lib/systemd/network/20-b.network': '[Match]\nName=eth1\n',
      'usr/lib/systemd/network/30-c.link': 'not a .network\n',
    });
    symlinkSync('/dev/null', join(root, 'etc/systemd/network/20-b.network'));
    const files = await networkFiles(paths);
    assert.deepEqual(files, [{ name: '10-a.network', content: 'etc\n' }]);
  });

  test("a matching file that sorts before ec2net's unit shadows it; the agent's own unit does not", async () => {
    const { paths } = tree({
      'etc/systemd/network/10-netplan-eth1.network': '[Match]\nName=eth1\n',
      'run/systemd/network/70-ec2net-eth1.network': `[Match]\nMACAddress=${LINK.mac}\n`,
      'usr/lib/systemd/network/99-default.network': '[Match]\nName=*\n',
    });
    assert.deepEqual(await networkdShadow(paths, LINK), { name: '10-netplan-eth1.network', only: true });
    assert.equal(await networkdShadow(paths, { ...LINK, name: 'eth2', mac: '02:aa:00:00:00:03' }), undefined);
  });

  test('a catch-all that sorts first (Name=e*) is no file of this link alone; our own unit sorting before it is not a shadow', async () => {
    const { paths } = tree({ 'etc/systemd/network/10-all-en.network': '[Match]\nName=e*\n\n[Network]\nDHCP=yes\n', 'run/systemd/network/.keep': '' });
    assert.deepEqual(await networkdShadow(paths, LINK), { name: '10-all-en.network', only: false });
    writeFileSync(`${paths.runNetwork}/10-all-en-ec2net-eth1.network`, `# Written by ec2net for eni-0123456789abcdef0 (${LINK.mac}) and rewritten on every run\n[Match]\nMACAddress=${LINK.mac}\n`);
    assert.deepEqual(await networkdShadow(paths, LINK), { name: '10-all-en.network', only: false });
  });
});

/** An activator that only counts: the backends' files are what these tests look at. */
function countingActivator(kind: Activator['kind']) {
  const calls: string[] = [];
  const activator: Activator = {
    kind,
    up: async (i) => void calls.push(`up ${i}`),
    isRunning: async () => true,
    down: async (i) => void calls.push(`down ${i}`),
    forget: async (i) => void calls.push(`forget ${i}`),
    reload: async () => void calls.push('reload'),
  };
  return { activator, calls };
}

const CONFIG: Config = parseConfig(undefined, '/etc/ec2net/ec2net.conf');
const ETH1 = { index: 7, name: 'eth1', mac: '02:aa:00:00:00:02', up: false, altnames: [] };
/** A secondary ENI as IMDS describes it (the shape of the user guide's instance-metadata categories). */
const META = parseEniMetadata({
  mac: ETH1.mac,
  topLevelMac: '02:aa:00:00:00:01',
  deviceNumber: '1',
  networkCard: undefined,
  interfaceId: 'eni-0123456789abcdef0',
  localIpv4s: '10.0.1.20\n10.0.1.21',
  subnetIpv4CidrBlock: '10.0.1.0/24',
  ipv4Prefix: undefined,
});

function planned(facts: Awaited<ReturnType<ReturnType<typeof ifcfgBackend>['facts']>>) {
  return plan({ meta: META, ifname: 'eth1', flags: facts.flags, renderer: facts.renderer, settings: CONFIG.settings });
}

function recordOf(files: string[]): EniRecord {
  return { mac: ETH1.mac, eniId: META.eniId, ifname: 'eth1', table: 10001, deviceNumber: 1, networkCard: 0, primary: false, converged: true, addresses: [], files };
}

describe('the ifcfg backend', () => {
  test("with initscripts' directory: the ifcfg file's flags, its four files, and a detach removes exactly them", async () => {
    const { root, paths } = tree({ 'etc/sysconfig/network-scripts/ifcfg-eth9': 'DEVICE=eth9\n' });
    const backend = ifcfgBackend(paths, CONFIG, countingActivator('dhclient').activator);
    const facts = await backend.facts(ETH1);
    const p = planned(facts);
    assert.deepEqual(
      p.files.map((f) => f.path.slice(root.length)),
      ['/etc/sysconfig/network-scripts/ifcfg-eth1', '/etc/sysconfig/network-scripts/route-eth1', '/etc/dhcp/dhclient-eth1.conf'],
    );
    // initscripts' DHCP does not add the main-table default: the agent plans it.
    assert.ok(p.routes.some((r) => r.table === 254 && r.dst === '0.0.0.0/0'));
    assert.equal(await backend.write(p.files), true);
    assert.equal(await backend.write(p.files), false);
    await backend.cleanUp(recordOf(p.files.map((f) => f.path)));
    for (const f of p.files) assert.equal(existsSync(f.path), false, f.path);
    assert.equal(existsSync(`${paths.networkScripts}/ifcfg-eth9`), true);
  });

  test('EC2SYNC=no in the ifcfg file: a detach leaves every file in place', async () => {
    const { paths } = tree({ 'etc/sysconfig/network-scripts/ifcfg-eth1': `DEVICE=eth1\nHWADDR=${ETH1.mac}\nEC2SYNC=no\n`, 'etc/dhcp/dhclient-eth1.conf': 'timeout 300;\n' });
    const backend = ifcfgBackend(paths, CONFIG, countingActivator('dhclient').activator);
    assert.equal((await backend.facts(ETH1)).flags.ec2sync, false);
    await backend.cleanUp(recordOf([]));
    assert.equal(existsSync(`${paths.networkScripts}/ifcfg-eth1`), true);
    assert.equal(existsSync(`${paths.dhcp}/dhclient-eth1.conf`), true);
  });

  test('without an ifcfg directory (Debian): no files, and the flags of ec2net.conf', async () => {
    const { paths } = tree({});
    const config = parseConfig('MAIN_ROUTE_TABLE=no\nPROVISION_PREFIX_IPS=yes\n', paths.configFile);
    const facts = await ifcfgBackend(paths, config, countingActivator('dhclient').activator).facts(ETH1);
    assert.deepEqual([facts.flags.mainRouteTable, facts.flags.provisionPrefixIps], [false, true]);
    const p = planned(facts);
    assert.deepEqual(p.files, []);
    assert.equal(p.routes.some((r) => r.table === 254), false);
  });
});

describe('the networkd backend', () => {
  test('one unit by MAC; the manager reloads only when a file changed; DHCP installs the main-table routes', async () => {
    const { root, paths } = tree({});
    const { activator, calls } = countingActivator('networkctl');
    const backend = networkdBackend(paths, CONFIG, activator);
    const facts = await backend.facts(ETH1);
    assert.equal(facts.note, undefined);
    const p = planned(facts);
    assert.deepEqual(p.files.map((f) => f.path.slice(root.length)), ['/run/systemd/network/70-ec2net-eth1.network']);
    assert.equal(p.routes.some((r) => r.table === 254), false);
    assert.equal(p.raRouteMetric, undefined);
    assert.equal(await backend.write(p.files), true);
    assert.equal(await backend.write(p.files), false);
    assert.deepEqual(calls, ['reload']);
  });

  test("a drop-in beside another generator's file read first; the unit it replaces and a detach remove only ours", async () => {
    const { paths } = tree({
      'etc/systemd/network/10-netplan-eth1.network': '[Match]\nName=eth1\n',
      'run/systemd/network/70-ec2net-eth1.network': `# Written by ec2net for ${META.eniId} (${ETH1.mac}) and rewritten on every run\n`,
      'run/systemd/network/80-admin.network': '[Match]\nName=eth5\n',
    });
    const { activator, calls } = countingActivator('networkctl');
    const backend = networkdBackend(paths, CONFIG, activator);
    const facts = await backend.facts(ETH1);
    assert.deepEqual(facts.note?.fields, { shadowedBy: '10-netplan-eth1.network' });
    const p = planned(facts);
    assert.equal(p.files.length, 1);
    assert.match(p.files[0]?.path ?? '', /10-netplan-eth1\.network\.d\/[^/]+\.conf$/);
    await backend.write(p.files);
    const unit = `${paths.runNetwork}/70-ec2net-eth1.network`;
    const admin = `${paths.runNetwork}/80-admin.network`;
    assert.equal(await backend.removeStale([unit, admin], ETH1.mac), true);
    assert.deepEqual([existsSync(unit), existsSync(admin)], [false, true]);
    assert.equal(await backend.removeStale([admin], ETH1.mac), false);
    await backend.cleanUp(recordOf([...p.files.map((f) => f.path), admin]));
    assert.equal(existsSync(p.files[0]?.path ?? ''), false);
    assert.equal(readFileSync(admin, 'utf8'), '[Match]\nName=eth5\n');
    assert.deepEqual(calls, ['reload', 'reload', 'reload']);
  });
});

describe('the networkd backend beside a catch-all that networkd would read first', () => {
  test('our unit is named to sort just before it (a drop-in would reach the primary too), and replaces the drop-in of a file that became one', async () => {
    const { root, paths } = tree({ 'etc/systemd/network/10-all-en.network': '[Match]\nName=e*\n\n[Network]\nDHCP=yes\n', 'run/systemd/network/.keep': '' });
    const { activator } = countingActivator('networkctl');
    const backend = networkdBackend(paths, CONFIG, activator);
    const facts = await backend.facts(ETH1);
    assert.deepEqual(facts.note?.fields, { catchAll: '10-all-en.network' });
    const p = planned(facts);
    assert.deepEqual(p.files.map((f) => f.path.slice(root.length)), ['/run/systemd/network/10-all-en-ec2net-eth1.network']);
    assert.ok('10-all-en-ec2net-eth1.network' < '10-all-en.network');
    assert.match(p.files[0]?.content ?? '', new RegExp(`\\[Match\\]\\nMACAddress=${ETH1.mac}\\n`));
    await backend.write(p.files);
    // Written: the next run plans the same unit, not a drop-in into it.
    assert.deepEqual(planned(await backend.facts(ETH1)).files.map((f) => f.path), p.files.map((f) => f.path));
  });
});

describe('which manager a link is left to', () => {
  test('BACKEND=auto leaves a NetworkManager device alone; a configured BACKEND takes it', async () => {
    const { paths } = tree({ 'run/NetworkManager/devices/7': '[device]\n' });
    const auto = ifcfgBackend(paths, CONFIG, countingActivator('dhclient').activator);
    assert.match((await auto.declines(ETH1)) ?? '', /NetworkManager/);
    assert.equal(await auto.declines({ ...ETH1, index: 8 }), undefined);
    const forced = networkdBackend(paths, parseConfig('BACKEND=networkd\n', paths.configFile), countingActivator('networkctl').activator);
    assert.equal(await forced.declines(ETH1), undefined);
  });

  test('openBackend: networkd with networkctl where networkd runs, else ifcfg with dhclient (no initscripts)', async () => {
    const networkd = await openBackend(tree({ 'run/systemd/netif/state': 'OPER_STATE=routable\n' }).paths, CONFIG, '/bin/true');
    assert.deepEqual([networkd.kind, networkd.activator.kind], ['networkd', 'networkctl']);
    const ifcfg = await openBackend(tree({}).paths, CONFIG, '/bin/true');
    assert.deepEqual([ifcfg.kind, ifcfg.activator.kind], ['ifcfg', 'dhclient']);
  });
});
