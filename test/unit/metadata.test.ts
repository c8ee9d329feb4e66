import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2netError } from '../../src/errors.js';
import { formatCidr4, type Cidr4 } from '../../src/model/ipv4.js';
import { parseEniMetadata, type RawEni } from '../../src/model/metadata.js';

const PRIMARY_MAC = '0a:00:00:00:00:01';
const SECONDARY_MAC = '0a:00:00:00:00:02';

/** A valid secondary ENI in 10.0.1.0/24; cases override one key at a time. */
function raw(over: Partial<RawEni> = {}): RawEni {
  return {
    mac: SECONDARY_MAC,
    topLevelMac: PRIMARY_MAC,
    deviceNumber: '1',
    networkCard: undefined,
    interfaceId: 'eni-0123456789abcdef0',
    localIpv4s: '10.0.1.10\n10.0.1.11\n10.0.1.12',
    subnetIpv4CidrBlock: '10.0.1.0/24',
    ipv4Prefix: undefined,
    ...over,
  };
}

function refused(input: RawEni, key: string): Ec2netError {
  let caught: unknown;
  try {
    parseEniMetadata(input);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Ec2netError, `expected an Ec2netError, got ${String(caught)}`);
  assert.equal(caught.kind, 'InvalidMetadata');
  assert.equal(caught.fields.key, key);
  // The message goes to a log line: bounded, and a refused value's newline cannot forge a second line.
  assert.ok(caught.message.length < 400, `message too long: ${caught.message.length}`);
  assert.ok(!caught.message.includes('\n'), `message has a raw newline: ${JSON.stringify(caught.message)}`);
  return caught;
}

const LONG = 'x'.repeat(100_000);
const LONG_ADDRESSES = '10.0.1.10' + '0'.repeat(70_000);

describe('parseEniMetadata refuses hostile and malformed values', () => {
  const cases: [string, Partial<RawEni>, string][] = [
    // local-ipv4s
    ['shell metacharacters after an address', { localIpv4s: '10.0.1.5;rm -rf /' }, 'local-ipv4s'],
    ['command substitution on its own line', { localIpv4s: '10.0.1.5\n$(id)' }, 'local-ipv4s'],
    ['backticks', { localIpv4s: '10.0.1.5\n`id`' }, 'local-ipv4s'],
    ['an address with a trailing space', { localIpv4s: '10.0.1.5 ' }, 'local-ipv4s'],
    ['CRLF line endings', { localIpv4s: '10.0.1.5\r\n10.0.1.6' }, 'local-ipv4s'],
    ['an empty line inside the list', { localIpv4s: '10.0.1.5\n\n10.0.1.6' }, 'local-ipv4s'],
    ['an empty list', { localIpv4s: '' }, 'local-ipv4s'],
    ['a lone newline', { localIpv4s: '\n' }, 'local-ipv4s'],
    ['an over-long body', { localIpv4s: LONG }, 'local-ipv4s'],
    ['an over-long address', { localIpv4s: LONG_ADDRESSES }, 'local-ipv4s'],
    ['a leading-zero (octal) address', { localIpv4s: '10.0.1.010' }, 'local-ipv4s'],
    ['a CIDR where an address belongs', { localIpv4s: '10.0.1.5/24' }, 'local-ipv4s'],
    ['IPv6 where IPv4 belongs', { localIpv4s: 'fd00::5' }, 'local-ipv4s'],
    ['IPv4-mapped IPv6', { localIpv4s: '::ffff:10.0.1.5' }, 'local-ipv4s'],
    ['a duplicate entry', { localIpv4s: '10.0.1.5\n10.0.1.6\n10.0.1.5' }, 'local-ipv4s'],
    ['an address outside the subnet', { localIpv4s: '10.0.1.5\n10.0.2.5' }, 'local-ipv4s'],
    ['a primary outside the subnet', { localIpv4s: '10.0.2.5' }, 'local-ipv4s'],
    ['a link-local address next to a VPC address', { localIpv4s: '10.0.1.5\n169.254.0.5' }, 'local-ipv4s'],
    ['two link-local addresses', { localIpv4s: '169.254.0.5\n169.254.0.6' }, 'local-ipv4s'],
    // mac
    ['a MAC with a newline and a command', { mac: '0a:00:00:00:00:02\n$(id)' }, 'mac'],
    ['a MAC with shell metacharacters', { mac: '0a:00:00:00:00:02;reboot' }, 'mac'],
    ['a path in the MAC', { mac: '../../../etc' }, 'mac'],
    ['the zero MAC', { mac: '00:00:00:00:00:00' }, 'mac'],
    ['an over-long MAC', { mac: LONG }, 'mac'],
    ['a malformed top-level MAC', { topLevelMac: '0a:00:00:00:00' }, 'mac (top level)'],
    ['a top-level MAC with a newline', { topLevelMac: `${PRIMARY_MAC}\n` }, 'mac (top level)'],
    // interface-id
    ['an ENI id with a command', { interfaceId: 'eni-0123456789abcdef0;id' }, 'interface-id'],
    ['an ENI id with a newline', { interfaceId: 'eni-0123456789abcdef0\n$(id)' }, 'interface-id'],
    ['an ENI id with a path', { interfaceId: 'eni-../../x' }, 'interface-id'],
    ['an empty ENI id', { interfaceId: '' }, 'interface-id'],
    ['an over-long ENI id', { interfaceId: `eni-${'0'.repeat(100_000)}` }, 'interface-id'],
    // subnet
    ['a subnet with host bits', { subnetIpv4CidrBlock: '10.0.1.5/24' }, 'subnet-ipv4-cidr-block'],
    ['a subnet without a length', { subnetIpv4CidrBlock: '10.0.1.0' }, 'subnet-ipv4-cidr-block'],
    ['a subnet wider than a VPC allows', { subnetIpv4CidrBlock: '10.0.0.0/8' }, 'subnet-ipv4-cidr-block'],
    ['a subnet narrower than a VPC allows', { subnetIpv4CidrBlock: '10.0.1.0/29' }, 'subnet-ipv4-cidr-block'],
    ['a subnet length above 32', { subnetIpv4CidrBlock: '10.0.1.0/33' }, 'subnet-ipv4-cidr-block'],
    ['an IPv6 subnet where IPv4 belongs', { subnetIpv4CidrBlock: '2001:db8:1::/64' }, 'subnet-ipv4-cidr-block'],
    ['a subnet with a trailing newline and command', { subnetIpv4CidrBlock: '10.0.1.0/24\n$(id)' }, 'subnet-ipv4-cidr-block'],
    ['an over-long subnet', { subnetIpv4CidrBlock: LONG }, 'subnet-ipv4-cidr-block'],
    // ipv4-prefix
    ['a prefix wider than /28', { ipv4Prefix: '10.0.1.0/27' }, 'ipv4-prefix'],
    ['a /24 prefix', { ipv4Prefix: '10.0.1.0/24' }, 'ipv4-prefix'],
    ['a prefix outside the subnet', { ipv4Prefix: '10.0.2.16/28' }, 'ipv4-prefix'],
    ['a prefix with host bits', { ipv4Prefix: '10.0.1.17/28' }, 'ipv4-prefix'],
    ['a duplicate prefix', { ipv4Prefix: '10.0.1.16/28\n10.0.1.32/28\n10.0.1.16/28' }, 'ipv4-prefix'],
    ['an IPv6 prefix where IPv4 belongs', { ipv4Prefix: '2001:db8:1:2::/80' }, 'ipv4-prefix'],
    ['a prefix with shell metacharacters', { ipv4Prefix: '10.0.1.16/28;id' }, 'ipv4-prefix'],
    ['an empty line among prefixes', { ipv4Prefix: '10.0.1.16/28\n\n10.0.1.32/28' }, 'ipv4-prefix'],
    ['an over-long prefix body', { ipv4Prefix: LONG }, 'ipv4-prefix'],
    // device-number
    ['device-number -1', { deviceNumber: '-1' }, 'device-number'],
    ['device-number 1e9', { deviceNumber: '1e9' }, 'device-number'],
    ['device-number 100', { deviceNumber: '100' }, 'device-number'],
    ['device-number 01', { deviceNumber: '01' }, 'device-number'],
    ['device-number empty', { deviceNumber: '' }, 'device-number'],
    ['device-number with a newline', { deviceNumber: '1\n' }, 'device-number'],
    ['device-number with a command', { deviceNumber: '1;id' }, 'device-number'],
    // network-card
    ['network-card empty (must not read as 0)', { networkCard: '' }, 'network-card'],
    ['network-card -1', { networkCard: '-1' }, 'network-card'],
    ['network-card 100', { networkCard: '100' }, 'network-card'],
    ['network-card 0x1', { networkCard: '0x1' }, 'network-card'],
    ['network-card with a command', { networkCard: '1$(id)' }, 'network-card'],
  ];

  for (const [name, over, key] of cases) {
    test(`${name} → InvalidMetadata naming ${key}`, () => {
      refused(raw(over), key);
    });
  }

  test('the refused value appears escaped in the message, not raw', () => {
    const e = refused(raw({ localIpv4s: '10.0.1.5\n$(id)' }), 'local-ipv4s');
    assert.match(e.message, /\$\(id\)/);
    const long = refused(raw({ interfaceId: `eni-${'0'.repeat(100_000)}` }), 'interface-id');
    assert.ok(long.message.length < 200);
  });

  test('a block whose host bits are set says so; one that is no block at all says that', () => {
    const V6 = { ipv6s: '2001:db8:1::10', subnetIpv6CidrBlocks: '2001:db8:1::/64' };
    const says = (over: Partial<RawEni>, key: string) => refused(raw(over), key).message;
    assert.equal(says({ ipv4Prefix: '10.0.1.17/28' }, 'ipv4-prefix'), 'IMDS value refused: host bits set in "10.0.1.17/28"');
    assert.equal(says({ subnetIpv4CidrBlock: '10.0.1.5/24' }, 'subnet-ipv4-cidr-block'), 'IMDS value refused: host bits set in "10.0.1.5/24"');
    assert.equal(says({ ipv4Prefix: '10.0.1.16/2x' }, 'ipv4-prefix'), 'IMDS value refused: not a CIDR block: "10.0.1.16/2x"');
    assert.equal(says({ subnetIpv4CidrBlock: '10.0.1.0/33' }, 'subnet-ipv4-cidr-block'), 'IMDS value refused: not a VPC subnet (/16../28): "10.0.1.0/33"');
    assert.equal(says({ ...V6, ipv6Prefix: '2001:db8:1:0:1::1/80' }, 'ipv6-prefix'), 'IMDS value refused: host bits set in "2001:db8:1:0:1::1/80"');
    assert.equal(says({ ...V6, subnetIpv6CidrBlocks: '2001:db8:1::1/64' }, 'subnet-ipv6-cidr-blocks'), 'IMDS value refused: host bits set in "2001:db8:1::1/64"');
  });

  test('fields carry the (valid) MAC of the ENI whose key was refused', () => {
    const e = refused(raw({ deviceNumber: '-1' }), 'device-number');
    assert.equal(e.fields.mac, SECONDARY_MAC);
  });
});

describe('parseEniMetadata accepts valid metadata', () => {
  test('a secondary ENI', () => {
    const m = parseEniMetadata(raw({ deviceNumber: '2' }));
    assert.equal(m.mac, SECONDARY_MAC);
    assert.equal(m.eniId, 'eni-0123456789abcdef0');
    assert.equal(m.deviceNumber, 2);
    assert.equal(m.networkCard, 0, '404 network-card (undefined) reads as card 0');
    assert.deepEqual(m.localIpv4s, ['10.0.1.10', '10.0.1.11', '10.0.1.12'], 'primary first, order kept');
    assert.equal(formatCidr4(m.subnet as Cidr4), '10.0.1.0/24');
    assert.deepEqual(m.ipv4Prefixes, []);
    assert.equal(m.isPrimary, false);
  });

  test('the primary is the ENI whose MAC is the top-level mac, compared case-insensitively', () => {
    const m = parseEniMetadata(raw({ mac: '0A:00:00:00:00:01', topLevelMac: '0a:00:00:00:00:01', deviceNumber: '0' }));
    assert.equal(m.isPrimary, true);
    assert.equal(m.mac, '0a:00:00:00:00:01');
    const upperTop = parseEniMetadata(raw({ mac: PRIMARY_MAC, topLevelMac: '0A:00:00:00:00:01', deviceNumber: '0' }));
    assert.equal(upperTop.isPrimary, true);
  });

  test('device-number 0 does not by itself make an ENI primary', () => {
    assert.equal(parseEniMetadata(raw({ deviceNumber: '0' })).isPrimary, false);
  });

  test('network-card is read when present', () => {
    const m = parseEniMetadata(raw({ networkCard: '1', deviceNumber: '3' }));
    assert.equal(m.networkCard, 1);
    assert.equal(m.deviceNumber, 3);
  });

  test('maximum device-number and network-card', () => {
    const m = parseEniMetadata(raw({ networkCard: '99', deviceNumber: '99' }));
    assert.equal(m.networkCard, 99);
    assert.equal(m.deviceNumber, 99);
  });

  test('a trailing newline on the address list is tolerated', () => {
    assert.deepEqual(parseEniMetadata(raw({ localIpv4s: '10.0.1.10\n10.0.1.11\n' })).localIpv4s, ['10.0.1.10', '10.0.1.11']);
  });

  test('an IPv6-only network interface: no local-ipv4s and no IPv4 subnet block (both 404, per the instance-metadata categories)', () => {
    const m = parseEniMetadata(raw({ localIpv4s: undefined, subnetIpv4CidrBlock: undefined, ipv6s: '2001:db8:3::30', subnetIpv6CidrBlocks: '2001:db8:3::/64' }));
    assert.deepEqual(m.localIpv4s, []);
    assert.equal(m.subnet, undefined);
    assert.deepEqual(m.ipv6s, ['2001:db8:3::30']);
    // No local-ipv4s beside an IPv4 subnet block is no IPv6-only interface.
    const e = refused(raw({ localIpv4s: undefined }), 'local-ipv4s');
    assert.match(e.message, /IPv4 subnet block/);
  });

  test('an IPv6-only subnet: a single link-local address is accepted', () => {
    const m = parseEniMetadata(raw({ localIpv4s: '169.254.0.9' }));
    assert.deepEqual(m.localIpv4s, ['169.254.0.9']);
  });

  test('delegated prefixes are parsed, in order', () => {
    const m = parseEniMetadata(raw({ ipv4Prefix: '10.0.1.16/28\n10.0.1.240/28\n' }));
    assert.deepEqual(m.ipv4Prefixes.map(formatCidr4), ['10.0.1.16/28', '10.0.1.240/28']);
  });

  test('a 404 prefix list (undefined) means no prefixes', () => {
    assert.deepEqual(parseEniMetadata(raw({ ipv4Prefix: undefined })).ipv4Prefixes, []);
  });

  test('the subnet bounds /16 and /28 are accepted', () => {
    assert.equal(formatCidr4(parseEniMetadata(raw({ subnetIpv4CidrBlock: '10.0.0.0/16' })).subnet as Cidr4), '10.0.0.0/16');
    const narrow = parseEniMetadata(raw({ subnetIpv4CidrBlock: '10.0.1.0/28', localIpv4s: '10.0.1.4\n10.0.1.14' }));
    assert.equal(formatCidr4(narrow.subnet as Cidr4), '10.0.1.0/28');
  });

  test('50 secondary addresses (the largest instance types) are accepted', () => {
    const addrs = Array.from({ length: 50 }, (_, i) => `10.0.1.${10 + i}`);
    assert.deepEqual(parseEniMetadata(raw({ localIpv4s: addrs.join('\n') })).localIpv4s, addrs);
  });
});
