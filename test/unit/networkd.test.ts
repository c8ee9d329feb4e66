/**
 * The networkd backend's pure parts: which .network file networkd picks for a link, and what we write.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { activeNetworkFile, isOurNetworkdFile, matchesLink, renderNetworkd } from '../../src/render/networkd.js';

const LINK = { ifname: 'eth1', mac: '02:aa:00:00:00:02' };
const OURS = '70-ec2net-eth1.network';

describe('which .network file networkd picks', () => {
  const cases: [string, string, boolean][] = [
    ['Name= exact', '[Match]\nName=eth1\n', true],
    ['Name= glob', '[Match]\nName=eth* ens*\n', true],
    ['Name= another', '[Match]\nName=eth2\n', false],
    ['Name= negated', '[Match]\nName=!eth1\n', false],
    ['MACAddress=, any case', '[Match]\nMACAddress=02:AA:00:00:00:02\n', true],
    ['MACAddress= another', '[Match]\nMACAddress=02:aa:00:00:00:03\n', false],
    ['PermanentMACAddress= (netplan)', '[Match]\nPermanentMACAddress=02:aa:00:00:00:02\nName=eth1\n', true],
    ['both conditions must hold', '[Match]\nMACAddress=02:aa:00:00:00:02\nName=eth9\n', false],
    ['no [Match] section matches every link', '[Network]\nDHCP=yes\n', true],
    ['a condition it cannot evaluate counts as matching', '[Match]\nDriver=ena\n', true],
    ['Type=ether', '[Match]\nType=ether\n', true],
    ['Type=wlan', '[Match]\nType=wlan\n', false],
    ['keys outside [Match] do not count', '[Match]\nName=eth1\n[Network]\nName=x\n', true],
  ];
  for (const [what, content, want] of cases) test(what, () => assert.equal(matchesLink(content, LINK), want));

  test("a lower-numbered netplan file for the interface shadows ours; one after ours or for another link doesn't", () => {
    const netplan = { name: '10-netplan-eth1.network', content: '[Match]\nPermanentMACAddress=02:aa:00:00:00:02\nName=eth1\n' };
    const other = { name: '10-netplan-eth2.network', content: '[Match]\nName=eth2\n' };
    const late = { name: '99-default.network', content: '[Match]\nName=*\n' };
    assert.equal(activeNetworkFile([late, other, netplan], LINK, OURS), '10-netplan-eth1.network');
    assert.equal(activeNetworkFile([late, other], LINK, OURS), undefined);
    assert.equal(activeNetworkFile([{ name: '50-cloud-init.network', content: '[Match]\nMACAddress=02:aa:00:00:00:02\n' }, netplan], LINK, OURS), '10-netplan-eth1.network', 'the first in lexical order');
    assert.equal(activeNetworkFile([{ name: '10-x.link', content: '' }], LINK, OURS), undefined, 'only .network files');
  });
});

describe('what the networkd backend writes', () => {
  const input = {
    ifname: 'eth1',
    mac: LINK.mac,
    eniId: 'eni-0a1b2c3d4e5f60002',
    mainMetric: 513,
    dhcp4: true,
    addresses: [{ family: 4 as const, dev: 'eth1', address: '10.0.1.11/32' }],
    routes: [],
  };

  test('a unit matched by MAC, or a drop-in beside the shadowing file, never both', () => {
    const unit = renderNetworkd({ runNetwork: '/run/systemd/network' }, input);
    assert.deepEqual(unit.map((f) => f.path), ['/run/systemd/network/70-ec2net-eth1.network']);
    assert.match(unit[0]?.content ?? '', /\n\[Match\]\nMACAddress=02:aa:00:00:00:02\n/);
    const dropin = renderNetworkd({ runNetwork: '/run/systemd/network' }, { ...input, shadowedBy: '10-netplan-eth1.network' });
    assert.deepEqual(dropin.map((f) => f.path), ['/run/systemd/network/10-netplan-eth1.network.d/70-ec2net.conf']);
    assert.doesNotMatch(dropin[0]?.content ?? '', /\[Match\]/);
    assert.match(dropin[0]?.content ?? '', /\[DHCPv4\]\nUseMTU=yes\n/);
  });

  test('MAIN_ROUTE_TABLE=no: no DHCP or RA gateway in the main table; IPv6-only: DHCPv6 only', () => {
    const [f] = renderNetworkd({ runNetwork: '/r' }, { ...input, dhcp4: false, mainMetric: undefined });
    assert.match(f?.content ?? '', /\nDHCP=ipv6\n/);
    assert.equal((f?.content.match(/UseGateway=no/g) ?? []).length, 2);
    assert.doesNotMatch(f?.content ?? '', /RouteMetric/);
  });

  test('ownership: the header names the MAC it was written for', () => {
    const [f] = renderNetworkd({ runNetwork: '/r' }, input);
    assert.equal(isOurNetworkdFile(f?.content ?? '', LINK.mac), true);
    assert.equal(isOurNetworkdFile(f?.content ?? '', '02:aa:00:00:00:03'), false);
    assert.equal(isOurNetworkdFile('[Match]\nName=eth1\n', LINK.mac), false);
  });
});
