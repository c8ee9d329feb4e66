/**
 * The NetworkManager backend's profile (src/render/nm.ts) as data, its detection, and which interfaces it leaves to
 * another profile, over a temporary file tree (EC2NET_ROOT).
 */
import { describe, test } from 'node:test';
import { fileTree } from '../support/tree.js';
import assert from 'node:assert/strict';
import { managedByNetworkManager } from '../../src/backends/backend.js';
import { nmBackend } from '../../src/backends/nm.js';
import { detectBackend, openBackend } from '../../src/backends/select.js';
import { parseConfig } from '../../src/config.js';
import { isOurNmProfile, nmUuid, renderNm, selectsInterface } from '../../src/render/nm.js';
import { nmcliActivator } from '../../src/ports/activation.js';

const PATHS = { runConnections: '/run/NetworkManager/system-connections' };
const MAC = '02:ec:00:00:05:11';
const LINK = { index: 7, name: 'eth1', mac: MAC, up: true, altnames: [] };
const BASE = {
  ifname: 'eth1',
  mac: MAC,
  eniId: 'eni-0000000000000f001',
  addresses: [
    { family: 4 as const, dev: 'eth1', address: '10.0.2.11/32' },
    { family: 4 as const, dev: 'eth1', address: '10.0.2.12/32' },
    { family: 6 as const, dev: 'eth1', address: '2001:db8:2::10/128' },
  ],
};

const tree = fileTree;

describe('NetworkManager profile', () => {
  test('dual-stack: DHCP and RA, the secondary addresses, the main-table metric; 0600, named and identified by MAC', () => {
    const [file, ...rest] = renderNm(PATHS, { ...BASE, mainMetric: 513, dhcp4: true, ipv6: true });
    assert.deepEqual(rest, []);
    assert.equal(file?.path, '/run/NetworkManager/system-connections/ec2net-02ec00000511.nmconnection');
    // nm-settings-keyfile(5): a profile readable by group or others is ignored.
    assert.equal(file?.mode, 0o600);
    assert.equal(
      file?.content,
      [
        '# Written by ec2net for eni-0000000000000f001 (02:ec:00:00:05:11) and rewritten on every run; settings: /etc/ec2net/ec2net.conf',
        '',
        '[connection]',
        'id=ec2net eth1',
        'uuid=ec2e7000-0000-4000-8000-02ec00000511',
        'type=ethernet',
        'autoconnect-priority=100',
        '',
        '[ethernet]',
        'mac-address=02:ec:00:00:05:11',
        '',
        '[ipv4]',
        'method=auto',
        'dhcp-client-id=mac',
        'dhcp-timeout=2147483647',
        'ignore-auto-dns=true',
        'route-metric=513',
        'address1=10.0.2.11/32',
        'address2=10.0.2.12/32',
        '',
        '[ipv6]',
        'method=auto',
        'ignore-auto-dns=true',
        'route-metric=513',
        'address1=2001:db8:2::10/128',
        '',
      ].join('\n'),
    );
    assert.ok(isOurNmProfile(file?.content ?? '', MAC));
    assert.ok(!isOurNmProfile(file?.content ?? '', '02:ec:00:00:05:12'));
  });

  test('IPv6-only: no DHCPv4; IPv4-only: IPv6 left to the kernel; MAIN_ROUTE_TABLE=no: never-default, no metric', () => {
    const only6 = renderNm(PATHS, { ...BASE, mainMetric: 513, dhcp4: false, ipv6: true })[0]?.content ?? '';
    assert.match(only6, /\[ipv4\]\nmethod=disabled\n\n\[ipv6\]\nmethod=auto\n/);
    const only4 = renderNm(PATHS, { ...BASE, mainMetric: 513, dhcp4: true, ipv6: false })[0]?.content ?? '';
    assert.match(only4, /\[ipv6\]\nmethod=ignore\n$/);
    const noMain = renderNm(PATHS, { ...BASE, dhcp4: true, ipv6: true })[0]?.content ?? '';
    assert.equal(noMain.match(/^never-default=true$/gm)?.length, 2);
    assert.doesNotMatch(noMain, /route-metric/);
  });

  test('the UUID is a fixed function of the MAC, in UUID form', () => {
    assert.equal(nmUuid(MAC), nmUuid(MAC));
    assert.match(nmUuid(MAC), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('another profile selects the interface by MAC or name, keyfile or ifcfg (quoted, any case)', () => {
    const link = { ifname: 'eth1', mac: MAC };
    assert.ok(selectsInterface('[ethernet]\nmac-address=02:EC:00:00:05:11\n', link));
    assert.ok(selectsInterface('[connection]\ninterface-name=eth1\n', link));
    assert.ok(selectsInterface('DEVICE="eth1"\nBOOTPROTO=dhcp\n', link));
    assert.ok(selectsInterface('HWADDR=02:ec:00:00:05:11\n', link));
    assert.ok(!selectsInterface('[connection]\ninterface-name=eth10\n[ethernet]\nmac-address=02:ec:00:00:05:12\n', link));
  });
});

describe('NetworkManager backend: detection and stepping aside', () => {
  test('BACKEND=auto picks nm where /run/NetworkManager/devices exists and networkd does not run; BACKEND=nm forces it', async () => {
    const withNm = tree({ 'run/NetworkManager/devices/2': '[device]\nmanaged=true\n' });
    assert.equal(await detectBackend(withNm.paths, 'auto'), 'nm');
    assert.equal(await detectBackend(tree({ 'run/NetworkManager/devices/2': '', 'run/systemd/netif/state': '' }).paths, 'auto'), 'networkd');
    assert.equal(await detectBackend(tree({}).paths, 'nm'), 'nm');
    const backend = await openBackend(withNm.paths, parseConfig(undefined, withNm.paths.configFile), '/bin/true');
    assert.deepEqual([backend.kind, backend.activator.kind], ['nm', 'nmcli']);
  });

  test('a device file with managed=false is not managed (nmcli device set IF managed no keeps the file)', async () => {
    const { paths } = tree({ 'run/NetworkManager/devices/7': '[device]\nmanaged=false\n', 'run/NetworkManager/devices/8': '[device]\nmanaged=true\n' });
    assert.equal(await managedByNetworkManager(paths, LINK), false);
    assert.equal(await managedByNetworkManager(paths, { ...LINK, index: 8 }), true);
    const backend = nmBackend(paths, parseConfig(undefined, paths.configFile), nmcliActivator(paths));
    assert.match((await backend.declines(LINK)) ?? '', /managed=false/);
  });

  test("an admin's keyfile or ifcfg file for the interface: left to it; ec2net's own profile and other interfaces' are not", async () => {
    const admin = tree({ 'etc/NetworkManager/system-connections/eth1.nmconnection': `[connection]\nid=mine\n[ethernet]\nmac-address=${MAC}\n` });
    const config = parseConfig(undefined, admin.paths.configFile);
    assert.match((await nmBackend(admin.paths, config, nmcliActivator(admin.paths)).declines(LINK)) ?? '', /eth1\.nmconnection/);
    const ifcfg = tree({ 'etc/sysconfig/network-scripts/ifcfg-eth1': 'DEVICE=eth1\nBOOTPROTO=dhcp\n' });
    assert.match((await nmBackend(ifcfg.paths, config, nmcliActivator(ifcfg.paths)).declines(LINK)) ?? '', /ifcfg-eth1/);
    const ours = renderNm(PATHS, { ...BASE, mainMetric: 513, dhcp4: true, ipv6: true })[0]?.content ?? '';
    const clean = tree({
      'etc/NetworkManager/system-connections/ec2net.nmconnection': ours,
      'etc/NetworkManager/system-connections/eth0.nmconnection': '[connection]\ninterface-name=eth0\n',
    });
    assert.equal(await nmBackend(clean.paths, config, nmcliActivator(clean.paths)).declines(LINK), undefined);
  });
});
