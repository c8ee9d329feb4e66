import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseEniId,
  parseIfname,
  parseIpv4Address,
  parseIpv4Network,
  parseMac,
  parseSmallIndex,
  splitLines,
} from '../../src/model/validate.js';

describe('parseIfname', () => {
  const accepted = ['eth0', 'eth1', 'ens5', 'enX0', 'eth1.100', 'ens5-1', 'veth_a', 'a', 'a'.repeat(15), 'eth10', '0eth'];
  for (const name of accepted) {
    test(`accepts ${JSON.stringify(name)}`, () => {
      assert.equal(parseIfname(name), name);
    });
  }

  const refused = [
    '',
    '.',
    '..',
    '../x',
    '../../etc/passwd',
    'eth0/x',
    '/',
    'eth0:1', // alias syntax
    ':',
    'eth 0',
    ' eth0',
    'eth0 ',
    'eth0\n',
    '\neth0',
    'eth0\0',
    'eth0\t',
    'a'.repeat(16), // IFNAMSIZ is 16 including the NUL
    'a'.repeat(64),
    '-eth0', // would read as an option in argv
    '.eth0',
    'eth0;reboot',
    'eth0$(id)',
    'eth`id`',
    'éth0',
    'eth0"',
    "eth0'",
  ];
  for (const name of refused) {
    test(`refuses ${JSON.stringify(name)}`, () => {
      assert.equal(parseIfname(name), undefined);
    });
  }
});

describe('parseMac', () => {
  test('lower-cases', () => {
    assert.equal(parseMac('0A:1B:2C:3D:4E:5F'), '0a:1b:2c:3d:4e:5f');
    assert.equal(parseMac('0a:1B:2c:3D:4e:5F'), '0a:1b:2c:3d:4e:5f');
    assert.equal(parseMac('02:42:ac:11:00:02'), '02:42:ac:11:00:02');
  });

  const refused = [
    '00:00:00:00:00:00',
    '',
    '0a:1b:2c:3d:4e',
    '0a:1b:2c:3d:4e:5f:60',
    '0a-1b-2c-3d-4e-5f',
    '0a1b.2c3d.4e5f',
    '0a1b2c3d4e5f',
    '0a:1b:2c:3d:4e:5g',
    'a:1b:2c:3d:4e:5f',
    '0a:1b:2c:3d:4e:5f\n',
    ' 0a:1b:2c:3d:4e:5f',
    '0a:1b:2c:3d:4e:5f/',
    '0a:1b:2c:3d:4e:5f;id',
    '../1b:2c:3d:4e:5f',
  ];
  for (const text of refused) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      assert.equal(parseMac(text), undefined);
    });
  }
});

describe('parseEniId', () => {
  const accepted = ['eni-12345678', 'eni-0123456789abcdef0', 'eni-0a1b2c3d4e5f6a7b8'];
  for (const id of accepted) {
    test(`accepts ${id}`, () => {
      assert.equal(parseEniId(id), id);
    });
  }
  const refused = [
    '',
    'eni-',
    'eni-1234567', // 7 hex digits
    'eni-0123456789abcdef01', // 18 hex digits
    'ENI-12345678',
    'eni-0123456789ABCDEF0',
    'eni-1234567g',
    'eni-12345678\n',
    ' eni-12345678',
    'eni-12345678;reboot',
    'eni_12345678',
    'i-0123456789abcdef0',
  ];
  for (const id of refused) {
    test(`refuses ${JSON.stringify(id)}`, () => {
      assert.equal(parseEniId(id), undefined);
    });
  }
});

describe('parseSmallIndex', () => {
  test('accepts small decimal integers up to max', () => {
    assert.equal(parseSmallIndex('0', 99), 0);
    assert.equal(parseSmallIndex('1', 99), 1);
    assert.equal(parseSmallIndex('15', 99), 15);
    assert.equal(parseSmallIndex('99', 99), 99);
    assert.equal(parseSmallIndex('1000', 5000), 1000);
  });

  const refused: [string, number][] = [
    ['-1', 99],
    ['1e9', 99],
    ['1e1', 99],
    ['01', 99],
    ['00', 99],
    ['0x1', 99],
    [' 1', 99],
    ['1 ', 99],
    ['1\n', 99],
    ['\n1', 99],
    ['', 99],
    ['1.0', 99],
    ['+1', 99],
    ['١', 99],
    ['100', 99],
    ['99', 98],
    ['1', 0],
    ['10000', 100000], // more than four digits never passes, whatever the max
    ['Infinity', 99],
    ['NaN', 99],
  ];
  for (const [text, max] of refused) {
    test(`refuses ${JSON.stringify(text)} with max ${max}`, () => {
      assert.equal(parseSmallIndex(text, max), undefined);
    });
  }
});

describe('address parsers', () => {
  test('parseIpv4Address is the strict dotted quad', () => {
    assert.equal(parseIpv4Address('10.0.1.5'), 167772421);
    assert.equal(parseIpv4Address('010.0.1.5'), undefined);
  });
  test('parseIpv4Network refuses host bits', () => {
    assert.deepEqual(parseIpv4Network('10.0.1.0/24'), { base: 167772416, prefixLen: 24 });
    assert.equal(parseIpv4Network('10.0.1.5/24'), undefined);
  });
});

describe('splitLines', () => {
  const table: [string, string[]][] = [
    ['', []],
    ['\n', []],
    ['a', ['a']],
    ['a\n', ['a']],
    ['a\nb', ['a', 'b']],
    ['a\nb\n', ['a', 'b']],
    // Only one trailing newline is tolerated; other empty lines reach the caller, which refuses them.
    ['a\n\n', ['a', '']],
    ['a\n\nb', ['a', '', 'b']],
    ['\na', ['', 'a']],
    // Carriage returns are not stripped: the value parsers refuse them.
    ['a\r\nb', ['a\r', 'b']],
  ];
  for (const [body, lines] of table) {
    test(`${JSON.stringify(body)} → ${JSON.stringify(lines)}`, () => {
      assert.deepEqual(splitLines(body), lines);
    });
  }
});
