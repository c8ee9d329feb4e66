/** The IMDS emulator's pure model: the metadata tree it serves, and when an injected fault stops applying. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildTree, emptyState, faultExpired, lookup, matchFault, type ArmedFault, type ImdsEni, type ImdsState } from '../vpc/imds-model.js';

const MACS = '/network/interfaces/macs/';

function eni(over: Partial<ImdsEni>): ImdsEni {
  return {
    mac: '0a:00:00:00:00:01', interfaceId: 'eni-1', deviceNumber: 0, networkCard: 0, subnetId: 'subnet-1', subnetCidr: '10.0.1.0/24',
    ipv4s: ['10.0.1.10'], ipv4Prefixes: [], ...over,
  };
}

function state(...enis: ImdsEni[]): ImdsState {
  return { ...emptyState(), vpcCidrs: ['10.0.0.0/16'], enis };
}

function answer(s: ImdsState, path: string): string | undefined {
  const found = lookup(buildTree(s), path);
  return found.kind === 'absent' ? undefined : found.body;
}

describe('IPv6 keys per ENI', () => {
  const dual = eni({
    subnetIpv6Cidr: '2001:db8:1::/64', ipv6s: ['2001:db8:1::10', '2001:db8:1::11'], ipv6Prefixes: ['2001:db8:1:0:1::/80', '2001:db8:1:0:2::/80'],
  });

  test('a dual-stack ENI lists ipv6s, ipv6-prefix and subnet-ipv6-cidr-blocks in order', () => {
    assert.equal(answer(state(dual), `${MACS}${dual.mac}/`), [
      'device-number', 'interface-id', 'ipv6-prefix', 'ipv6s', 'local-ipv4s', 'mac', 'subnet-id', 'subnet-ipv4-cidr-block',
      'subnet-ipv6-cidr-blocks', 'vpc-id', 'vpc-ipv4-cidr-block', 'vpc-ipv4-cidr-blocks'].join('\n'));
    assert.equal(answer(state(dual), `${MACS}${dual.mac}/ipv6s`), '2001:db8:1::10\n2001:db8:1::11');
    assert.equal(answer(state(dual), `${MACS}${dual.mac}/ipv6-prefix`), '2001:db8:1:0:1::/80\n2001:db8:1:0:2::/80');
    assert.equal(answer(state(dual), `${MACS}${dual.mac}/subnet-ipv6-cidr-blocks`), '2001:db8:1::/64');
  });

  test('keys with nothing to list are absent, not empty', () => {
    const noAddresses = eni({ subnetIpv6Cidr: '2001:db8:1::/64', ipv6s: [], ipv6Prefixes: [] });
    assert.equal(answer(state(noAddresses), `${MACS}${noAddresses.mac}/ipv6s`), undefined);
    assert.equal(answer(state(noAddresses), `${MACS}${noAddresses.mac}/ipv6-prefix`), undefined);
    assert.equal(answer(state(noAddresses), `${MACS}${noAddresses.mac}/subnet-ipv6-cidr-blocks`), '2001:db8:1::/64');
    const ipv4Only = eni({});
    assert.doesNotMatch(answer(state(ipv4Only), `${MACS}${ipv4Only.mac}/`) ?? '', /ipv6/);
  });

  test('an IPv6-only ENI has no subnet-ipv4-cidr-block, and its local-ipv4s is the 169.254 address', () => {
    const { subnetCidr: _, ...rest } = eni({});
    const only6: ImdsEni = { ...rest, ipv4s: ['169.254.0.5'], subnetIpv6Cidr: '2001:db8:3::/64', ipv6s: ['2001:db8:3::30'] };
    assert.equal(answer(state(only6), `${MACS}${only6.mac}/subnet-ipv4-cidr-block`), undefined);
    assert.equal(answer(state(only6), `${MACS}${only6.mac}/local-ipv4s`), '169.254.0.5');
    assert.equal(answer(state(only6), `${MACS}${only6.mac}/subnet-ipv6-cidr-blocks`), '2001:db8:3::/64');
    assert.doesNotMatch(answer(state(only6), `${MACS}${only6.mac}/`) ?? '', /subnet-ipv4/);
  });
});

test('an IPv6-only ENI with no IPv4 at all: local-ipv4s answers 404, as the instance-metadata categories say', () => {
  const { subnetCidr: _, ...rest } = eni({});
  const only6: ImdsEni = { ...rest, ipv4s: [], subnetIpv6Cidr: '2001:db8:3::/64', ipv6s: ['2001:db8:3::30'] };
  assert.equal(answer(state(only6), `${MACS}${only6.mac}/local-ipv4s`), undefined);
  assert.equal(answer(state(only6), `${MACS}${only6.mac}/subnet-ipv4-cidr-block`), undefined);
  assert.equal(answer(state(only6), `${MACS}${only6.mac}/ipv6s`), '2001:db8:3::30');
  assert.doesNotMatch(answer(state(only6), `${MACS}${only6.mac}/`) ?? '', /local-ipv4s/);
});

describe('faults', () => {
  const SET_AT = 1_000_000;

  test('forMs: applies until that much time has passed since it was set', () => {
    const armed: ArmedFault = { fault: { status: 404, forMs: 3_000 }, setAt: SET_AT };
    assert.equal(faultExpired(armed, SET_AT), false);
    assert.equal(faultExpired(armed, SET_AT + 2_999), false);
    assert.equal(faultExpired(armed, SET_AT + 3_000), true);
  });

  test('without forMs a fault never runs out by time', () => {
    assert.equal(faultExpired({ fault: { status: 500, times: 2 }, setAt: SET_AT }, SET_AT + 1e9), false);
  });

  test('an exact path wins over the longest matching prefix', () => {
    const faults = new Map<string, ArmedFault>([
      ['/latest/meta-data/', { fault: { status: 503 }, setAt: SET_AT }],
      ['/latest/meta-data/network/', { fault: { status: 500 }, setAt: SET_AT }],
      ['/latest/meta-data/network/interfaces/macs/m/ipv6s', { fault: { status: 404 }, setAt: SET_AT }],
    ]);
    assert.equal(matchFault(faults, '/latest/meta-data/network/interfaces/macs/m/ipv6s'), '/latest/meta-data/network/interfaces/macs/m/ipv6s');
    assert.equal(matchFault(faults, '/latest/meta-data/network/interfaces/macs/m/mac'), '/latest/meta-data/network/');
    assert.equal(matchFault(faults, '/latest/meta-data/mac'), '/latest/meta-data/');
    assert.equal(matchFault(faults, '/latest/api/token'), undefined);
  });
});
