import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { contains6, covers6, formatCidr6, formatIpv6, formatIpv6Bytes, ipv6Bytes, ipv6FromBytes, isGlobalUnicast6, parseCidr6, parseIpv6 } from '../../src/model/ipv6.js';
import { ipv6RouterOf } from '../../src/planner/facts.js';
import type { Route } from '../../src/model/state.js';

/** WHATWG URL serialises an IPv6 host in RFC 5952 form: an oracle that is not our code. */
const canonical = (text: string) => new URL(`http://[${text}]/`).hostname.slice(1, -1);

describe('IPv6 text', () => {
  test('format(parse(x)) is the RFC 5952 form for every 128-bit value (checked against WHATWG URL)', () => {
    const word = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), (words) => {
        const long = words.map((w) => w.toString(16).toUpperCase()).join(':');
        const value = parseIpv6(long);
        assert.notEqual(value, undefined);
        const text = formatIpv6(value as bigint);
        assert.equal(text, canonical(long));
        assert.equal(parseIpv6(text), value);
      }),
      { seed: 4242, numRuns: 500 },
    );
  });

  test('single zero groups are not compressed; the first of equal runs is', () => {
    assert.equal(formatIpv6(parseIpv6('2001:db8:0:1:1:1:1:1') as bigint), '2001:db8:0:1:1:1:1:1');
    assert.equal(formatIpv6(parseIpv6('2001:0:0:1:0:0:1:1') as bigint), '2001::1:0:0:1:1');
    assert.equal(formatIpv6(parseIpv6('::') as bigint), '::');
    assert.equal(formatIpv6(parseIpv6('::1') as bigint), '::1');
  });

  for (const bad of ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::', 'fe80::1%eth0', '::ffff:10.0.0.1', ' ::1', '::1 ', '1:2:3:4:5:6:7::8', '2001:db8::/64']) {
    test(`refuses ${JSON.stringify(bad)}`, () => assert.equal(parseIpv6(bad), undefined));
  }

  test('CIDR blocks: host bits, lengths, containment', () => {
    assert.equal(parseCidr6('2001:db8:1::/64') && formatCidr6(parseCidr6('2001:db8:1::/64')!), '2001:db8:1::/64');
    assert.equal(parseCidr6('2001:db8:1::1/64'), undefined, 'host bits set');
    assert.notEqual(parseCidr6('2001:db8:1::1/64', false), undefined);
    for (const bad of ['2001:db8::/129', '2001:db8::/-1', '2001:db8::/064', '2001:db8::', '2001:db8::/']) assert.equal(parseCidr6(bad), undefined, bad);
    const net = parseCidr6('2001:db8:1::/64')!;
    assert.ok(contains6(net, parseIpv6('2001:db8:1::ffff')!));
    assert.ok(!contains6(net, parseIpv6('2001:db8:2::1')!));
    assert.ok(covers6(net, parseCidr6('2001:db8:1:0:1234::/80')!));
    assert.ok(!covers6(parseCidr6('2001:db8:1:0:1234::/80')!, net));
  });

  test('formatIpv6Bytes reads the 16 bytes at its offset and nothing around them', () => {
    // Non-zero bytes on both sides: a read one byte early or late ends or starts with a group that is not 0.
    for (const text of ['::', '2001:db8::1', 'fe80::ff:0:fe00:1001', '1:2:3:4:5:6:7:8']) {
      const at = Buffer.concat([Buffer.alloc(5, 0xab), ipv6Bytes(parseIpv6(text)!), Buffer.alloc(5, 0xcd)]);
      assert.equal(formatIpv6Bytes(at, 5), text);
      assert.equal(formatIpv6Bytes(ipv6Bytes(parseIpv6(text)!)), text, 'offset 0 by default');
    }
  });

  test('bytes round-trip', () => {
    const v = parseIpv6('2001:db8:1:2:3:4:5:6')!;
    assert.equal(ipv6Bytes(v).toString('hex'), '20010db8000100020003000400050006');
    assert.equal(ipv6FromBytes(ipv6Bytes(v)), v);
  });

  test('global unicast excludes ::, ::1, link-local and multicast', () => {
    for (const a of ['::', '::1', 'fe80::1', 'febf::1', 'ff02::1']) assert.equal(isGlobalUnicast6(parseIpv6(a)!), false, a);
    for (const a of ['2001:db8::1', 'fd00:ec2::254', 'fec0::1']) assert.equal(isGlobalUnicast6(parseIpv6(a)!), true, a);
  });
});

describe('the IPv6 router of an ENI', () => {
  const ra = (dev: string, gateway: string, table = 254, protocol = 9): Route => ({ family: 6, table, dst: '::/0', dev, gateway, metric: 1024, scope: 'universe', protocol });
  test('is the gateway of the RA-learned main default on the interface', () => {
    assert.equal(ipv6RouterOf([ra('eth0', 'fe80::1'), ra('eth1', 'fe80::2')], 'eth1', 10001, 236), 'fe80::2');
  });
  test('a global gateway or another interface does not count', () => {
    assert.equal(ipv6RouterOf([ra('eth1', '2001:db8::1'), ra('eth0', 'fe80::1')], 'eth1', 10001, 236), undefined);
  });
  test("when the RA route has lapsed, the table's own default route keeps its router", () => {
    assert.equal(ipv6RouterOf([ra('eth1', 'fe80::2', 10001, 236)], 'eth1', 10001, 236), 'fe80::2');
    assert.equal(ipv6RouterOf([ra('eth1', 'fe80::2', 10002, 236)], 'eth1', 10001, 236), undefined, 'another table is not this ENI');
  });
});
