import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  LINK_LOCAL_4,
  addressesOf,
  contains,
  covers,
  dottedMask,
  formatCidr4,
  formatIpv4,
  maskOf,
  parseCidr4,
  parseIpv4,
  subnetRouter,
  type Cidr4,
} from '../../src/model/ipv4.js';

function ip(text: string): number {
  const v = parseIpv4(text);
  assert.notEqual(v, undefined, `test fixture ${text} must parse`);
  return v as number;
}

function cidr(text: string): Cidr4 {
  const c = parseCidr4(text);
  assert.notEqual(c, undefined, `test fixture ${text} must parse`);
  return c as Cidr4;
}

describe('parseIpv4', () => {
  const valid: [string, number][] = [
    ['0.0.0.0', 0],
    ['10.0.1.5', 10 * 2 ** 24 + 1 * 2 ** 8 + 5],
    ['169.254.169.254', 169 * 2 ** 24 + 254 * 2 ** 16 + 169 * 2 ** 8 + 254],
    ['255.255.255.255', 0xffffffff],
    ['128.0.0.0', 0x80000000],
  ];
  for (const [text, value] of valid) {
    test(`accepts ${text}`, () => {
      assert.equal(parseIpv4(text), value);
    });
  }

  const invalid = [
    '010.0.0.1', // leading zero: octal to inet_aton
    '10.0.0.01',
    '00.0.0.0',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '10.0. 0.1',
    '10.0.0.1\n',
    '256.0.0.1',
    '10.0.0.256',
    '1000.0.0.1',
    '1.2.3.4.5',
    '1.2.3',
    '1..2.3',
    '.1.2.3',
    '1.2.3.',
    '',
    '...',
    '+1.2.3.4',
    '-1.2.3.4',
    '0x0a.0.0.1',
    '1e2.0.0.1',
    '10.0.0.1/24',
    'fd00::1',
    '::ffff:10.0.0.1',
    '١.٢.٣.٤', // non-ASCII digits
  ];
  for (const text of invalid) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      assert.equal(parseIpv4(text), undefined);
    });
  }

  test('formatIpv4 round-trips every octet boundary', () => {
    for (const text of ['0.0.0.0', '1.2.3.4', '10.255.0.1', '192.168.255.255', '255.255.255.255', '128.0.0.1']) {
      assert.equal(formatIpv4(ip(text)), text);
    }
  });
});

describe('parseCidr4', () => {
  test('accepts a network with host bits clear', () => {
    assert.deepEqual(parseCidr4('10.0.1.0/24'), { base: ip('10.0.1.0'), prefixLen: 24 });
    assert.deepEqual(parseCidr4('0.0.0.0/0'), { base: 0, prefixLen: 0 });
    assert.deepEqual(parseCidr4('10.0.1.5/32'), { base: ip('10.0.1.5'), prefixLen: 32 });
    assert.deepEqual(parseCidr4('10.0.1.16/28'), { base: ip('10.0.1.16'), prefixLen: 28 });
    assert.deepEqual(parseCidr4('255.255.255.240/28'), { base: ip('255.255.255.240'), prefixLen: 28 });
  });

  test('refuses host bits by default, accepts them when not strict', () => {
    assert.equal(parseCidr4('10.0.1.5/24'), undefined);
    assert.equal(parseCidr4('10.0.1.17/28'), undefined);
    assert.equal(parseCidr4('10.0.0.0/0'), undefined);
    assert.equal(parseCidr4('10.0.1.128/24', true), undefined);
    assert.deepEqual(parseCidr4('10.0.1.5/24', false), { base: ip('10.0.1.5'), prefixLen: 24 });
  });

  const invalid = [
    '10.0.1.0',
    '10.0.1.0/',
    '/24',
    '10.0.1.0/33',
    '10.0.1.0/024',
    '10.0.1.0/-1',
    '10.0.1.0/+24',
    '10.0.1.0/ 24',
    '10.0.1.0/24 ',
    '10.0.1.0/24\n',
    '10.0.1.0/24/24',
    '010.0.1.0/24',
    '10.0.1.0/2e1',
    'fd00::/64',
  ];
  for (const text of invalid) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      assert.equal(parseCidr4(text), undefined);
      assert.equal(parseCidr4(text, false), undefined);
    });
  }

  test('formatCidr4 round-trips', () => {
    for (const text of ['10.0.1.0/24', '0.0.0.0/0', '172.31.16.0/20', '10.0.1.5/32']) {
      assert.equal(formatCidr4(cidr(text)), text);
    }
  });
});

describe('masks', () => {
  const table: [number, string][] = [
    [0, '0.0.0.0'],
    [1, '128.0.0.0'],
    [8, '255.0.0.0'],
    [16, '255.255.0.0'],
    [20, '255.255.240.0'],
    [24, '255.255.255.0'],
    [28, '255.255.255.240'],
    [31, '255.255.255.254'],
    [32, '255.255.255.255'],
  ];
  for (const [len, dotted] of table) {
    test(`dottedMask(${len}) is ${dotted}`, () => {
      assert.equal(dottedMask(len), dotted);
      assert.ok(maskOf(len) >= 0, 'mask is unsigned');
    });
  }
});

describe('contains and covers', () => {
  test('contains: inside, boundaries, outside', () => {
    const net = cidr('10.0.1.0/24');
    assert.equal(contains(net, ip('10.0.1.0')), true);
    assert.equal(contains(net, ip('10.0.1.255')), true);
    assert.equal(contains(net, ip('10.0.1.77')), true);
    assert.equal(contains(net, ip('10.0.2.0')), false);
    assert.equal(contains(net, ip('10.0.0.255')), false);
    assert.equal(contains(net, ip('11.0.1.5')), false);
  });

  test('contains works above 2^31 (no signed-int surprises)', () => {
    assert.equal(contains(cidr('192.168.0.0/16'), ip('192.168.255.255')), true);
    assert.equal(contains(cidr('255.255.255.0/24'), ip('255.255.255.255')), true);
    assert.equal(contains(cidr('128.0.0.0/1'), ip('127.255.255.255')), false);
    assert.equal(contains(cidr('0.0.0.0/0'), ip('255.255.255.255')), true);
    assert.equal(contains(cidr('10.0.1.5/32'), ip('10.0.1.5')), true);
    assert.equal(contains(cidr('10.0.1.5/32'), ip('10.0.1.4')), false);
  });

  test('covers: a block wholly inside another', () => {
    const subnet = cidr('10.0.1.0/24');
    assert.equal(covers(subnet, cidr('10.0.1.16/28')), true);
    assert.equal(covers(subnet, cidr('10.0.1.240/28')), true);
    assert.equal(covers(subnet, subnet), true);
    assert.equal(covers(subnet, cidr('10.0.2.16/28')), false);
    assert.equal(covers(subnet, cidr('10.0.0.0/23')), false, 'a wider block that contains the subnet is not inside it');
    assert.equal(covers(subnet, cidr('10.0.0.0/16')), false);
    assert.equal(covers(cidr('10.0.1.16/28'), subnet), false);
    assert.equal(covers(cidr('0.0.0.0/0'), cidr('250.0.0.0/8')), true);
  });

  test('LINK_LOCAL_4 is 169.254.0.0/16', () => {
    assert.equal(formatCidr4(LINK_LOCAL_4), '169.254.0.0/16');
    assert.equal(contains(LINK_LOCAL_4, ip('169.254.3.4')), true);
    assert.equal(contains(LINK_LOCAL_4, ip('169.255.0.1')), false);
  });
});

describe('addressesOf', () => {
  test('a /28 gives its 16 addresses in order', () => {
    const got = addressesOf(cidr('10.0.1.16/28')).map(formatIpv4);
    const want = Array.from({ length: 16 }, (_, i) => `10.0.1.${16 + i}`);
    assert.deepEqual(got, want);
  });

  test('a /28 at the top of the address space stays unsigned', () => {
    const got = addressesOf(cidr('255.255.255.240/28'));
    assert.equal(got.length, 16);
    assert.equal(formatIpv4(got[0] as number), '255.255.255.240');
    assert.equal(formatIpv4(got[15] as number), '255.255.255.255');
    assert.ok(got.every((a) => a >= 0));
  });

  test('a /32 gives itself, a /31 two', () => {
    assert.deepEqual(addressesOf(cidr('10.0.1.5/32')).map(formatIpv4), ['10.0.1.5']);
    assert.deepEqual(addressesOf(cidr('10.0.1.4/31')).map(formatIpv4), ['10.0.1.4', '10.0.1.5']);
  });
});

describe('subnetRouter', () => {
  const table: [string, string][] = [
    ['10.0.1.0/24', '10.0.1.1'],
    ['10.0.2.0/24', '10.0.2.1'],
    ['172.31.16.0/20', '172.31.16.1'],
    ['10.0.0.0/16', '10.0.0.1'],
    ['10.0.1.16/28', '10.0.1.17'],
    ['192.168.255.0/24', '192.168.255.1'],
  ];
  for (const [subnet, router] of table) {
    test(`${subnet} → ${router}`, () => {
      assert.equal(formatIpv4(subnetRouter(cidr(subnet))), router);
    });
  }
});
