import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2netError } from '../../src/errors.js';
import { parseCidr4, type Cidr4 } from '../../src/model/ipv4.js';
import { parseKeyValues } from '../../src/model/keyvalues.js';
import { DEFAULT_FLAGS, adminFlags, yesNo, type AdminFlags } from '../../src/render/ifcfg-flags.js';
import { ifcfgPath, renderIfcfg, type IfcfgInput, type IfcfgPaths } from '../../src/render/ifcfg.js';
import type { FileSpec } from '../../src/render/files.js';

const PATHS: IfcfgPaths = { networkScripts: '/root/etc/sysconfig/network-scripts', dhcp: '/root/etc/dhcp' };

function subnet(text: string): Cidr4 {
  const c = parseCidr4(text);
  assert.ok(c);
  return c;
}

function input(over: Partial<IfcfgInput> = {}): IfcfgInput {
  return {
    ifname: 'eth1',
    mac: '0a:1b:2c:3d:4e:5f',
    table: 10001,
    mainMetric: 10001,
    subnet: subnet('10.0.2.0/24'),
    primaryIpv4: '10.0.2.10',
    flags: DEFAULT_FLAGS,
    ...over,
  };
}

function byPath(files: readonly FileSpec[]): Map<string, FileSpec> {
  const m = new Map(files.map((f) => [f.path, f]));
  assert.equal(m.size, files.length, 'no path is rendered twice');
  return m;
}

const IFCFG_ETH1 =
  'DEVICE=eth1\n' +
  'BOOTPROTO=dhcp\n' +
  'ONBOOT=yes\n' +
  'TYPE=Ethernet\n' +
  'USERCTL=yes\n' +
  'PEERDNS=no\n' +
  'IPV6INIT=yes\n' +
  'DHCPV6C=yes\n' +
  'DHCPV6C_OPTIONS=-nw\n' +
  'PERSISTENT_DHCLIENT=yes\n' +
  'HWADDR=0a:1b:2c:3d:4e:5f\n' +
  'DEFROUTE=no\n' +
  'EC2SYNC=yes\n' +
  'EC2PROVISIONPFXIPS=\n' +
  'MAINROUTETABLE=yes\n';

const ROUTE_ETH1 =
  'default via 10.0.2.1 dev eth1 table 10001\n' +
  '10.0.2.0/255.255.255.0 dev eth1 proto kernel scope link src 10.0.2.10 table 10001\n' +
  'default via 10.0.2.1 dev eth1 metric 10001\n';

const DHCLIENT_ETH1 = 'supersede dhcp-server-identifier 255.255.255.255;\ntimeout 300;\n';

describe('renderIfcfg', () => {
  test('writes ifcfg-eth1, route-eth1 and dhclient-eth1.conf byte for byte', () => {
    const files = byPath(renderIfcfg(PATHS, input()));
    assert.deepEqual(
      [...files.keys()].sort(),
      [
        '/root/etc/dhcp/dhclient-eth1.conf',
        '/root/etc/sysconfig/network-scripts/ifcfg-eth1',
        '/root/etc/sysconfig/network-scripts/route-eth1',
      ],
    );
    assert.equal(files.get('/root/etc/sysconfig/network-scripts/ifcfg-eth1')?.content, IFCFG_ETH1);
    assert.equal(files.get('/root/etc/sysconfig/network-scripts/route-eth1')?.content, ROUTE_ETH1);
    assert.equal(files.get('/root/etc/dhcp/dhclient-eth1.conf')?.content, DHCLIENT_ETH1);
    for (const f of files.values()) assert.equal(f.mode, 0o644, f.path);
  });

  test('ifcfgPath names the file the renderer writes', () => {
    assert.equal(ifcfgPath(PATHS, 'eth1'), '/root/etc/sysconfig/network-scripts/ifcfg-eth1');
    assert.ok(renderIfcfg(PATHS, input()).some((f) => f.path === ifcfgPath(PATHS, 'eth1')));
  });

  test('MAINROUTETABLE=no drops the main-table default route and is written back', () => {
    const flags = adminFlags('MAINROUTETABLE=no\n', 'ifcfg-eth1');
    const files = byPath(renderIfcfg(PATHS, input({ flags })));
    assert.equal(
      files.get('/root/etc/sysconfig/network-scripts/route-eth1')?.content,
      'default via 10.0.2.1 dev eth1 table 10001\n' +
        '10.0.2.0/255.255.255.0 dev eth1 proto kernel scope link src 10.0.2.10 table 10001\n',
    );
    assert.equal(
      files.get('/root/etc/sysconfig/network-scripts/ifcfg-eth1')?.content,
      IFCFG_ETH1.replace('MAINROUTETABLE=yes\n', 'MAINROUTETABLE=no\n'),
    );
  });

  test("the admin's EC2PROVISIONPFXIPS value is carried", () => {
    const flags = adminFlags('DEVICE=eth1\nEC2PROVISIONPFXIPS=yes\n', 'ifcfg-eth1');
    const content = byPath(renderIfcfg(PATHS, input({ flags }))).get('/root/etc/sysconfig/network-scripts/ifcfg-eth1')?.content;
    assert.equal(content, IFCFG_ETH1.replace('EC2PROVISIONPFXIPS=\n', 'EC2PROVISIONPFXIPS=yes\n'));
  });

  test('table, metric, gateway, mask and source follow the input', () => {
    const files = byPath(
      renderIfcfg(
        PATHS,
        input({
          ifname: 'ens6',
          mac: '02:00:00:00:00:07',
          table: 10102,
          mainMetric: 10102,
          subnet: subnet('172.31.16.0/20'),
          primaryIpv4: '172.31.20.7',
        }),
      ),
    );
    assert.equal(
      files.get('/root/etc/sysconfig/network-scripts/route-ens6')?.content,
      'default via 172.31.16.1 dev ens6 table 10102\n' +
        '172.31.16.0/255.255.240.0 dev ens6 proto kernel scope link src 172.31.20.7 table 10102\n' +
        'default via 172.31.16.1 dev ens6 metric 10102\n',
    );
    const ifcfg = files.get('/root/etc/sysconfig/network-scripts/ifcfg-ens6')?.content ?? '';
    assert.match(ifcfg, /^DEVICE=ens6\n/);
    assert.match(ifcfg, /\nHWADDR=02:00:00:00:00:07\n/);
    assert.ok(files.has('/root/etc/dhcp/dhclient-ens6.conf'));
  });

  test('the main-table metric is its own input, not the table id', () => {
    const route = byPath(renderIfcfg(PATHS, input({ mainMetric: 777 }))).get('/root/etc/sysconfig/network-scripts/route-eth1')?.content;
    assert.match(route ?? '', /\ndefault via 10\.0\.2\.1 dev eth1 metric 777\n$/);
    assert.match(route ?? '', /^default via 10\.0\.2\.1 dev eth1 table 10001\n/);
  });

  test('an IPv6-only subnet gets no route file', () => {
    const files = byPath(renderIfcfg(PATHS, { ...input(), subnet: undefined }));
    assert.equal(files.has('/root/etc/sysconfig/network-scripts/route-eth1'), false);
    assert.equal(files.get('/root/etc/sysconfig/network-scripts/ifcfg-eth1')?.content, IFCFG_ETH1);
    assert.equal(files.get('/root/etc/dhcp/dhclient-eth1.conf')?.content, DHCLIENT_ETH1);
  });

  test('a rendered ifcfg file reads back through adminFlags with the same flags', () => {
    for (const text of [undefined, 'MAINROUTETABLE=no\n', 'EC2PROVISIONPFXIPS=yes\nMAINROUTETABLE=no\n']) {
      const flags = adminFlags(text, 'ifcfg-eth1');
      const content = byPath(renderIfcfg(PATHS, input({ flags }))).get(ifcfgPath(PATHS, 'eth1'))?.content;
      const again = adminFlags(content, 'ifcfg-eth1');
      assert.equal(again.mainRouteTable, flags.mainRouteTable);
      assert.equal(again.provisionPrefixIps, flags.provisionPrefixIps);
      assert.equal(again.provisionPrefixIpsValue, flags.provisionPrefixIpsValue);
      assert.equal(again.ec2sync, true);
    }
  });
});

describe('adminFlags', () => {
  function flags(text: string | undefined): AdminFlags {
    return adminFlags(text, '/etc/sysconfig/network-scripts/ifcfg-eth1');
  }

  test('no file: defaults', () => {
    assert.deepEqual(flags(undefined), {
      ec2sync: true,
      mainRouteTable: true,
      provisionPrefixIps: false,
      provisionPrefixIpsValue: '',
      mainRouteTableValue: '',
    });
  });

  test('an empty file or unset keys: defaults', () => {
    assert.deepEqual(flags(''), DEFAULT_FLAGS);
    assert.deepEqual(flags('DEVICE=eth1\nBOOTPROTO=dhcp\n'), DEFAULT_FLAGS);
  });

  test('EC2SYNC=no', () => {
    assert.equal(flags('DEVICE=eth1\nEC2SYNC=no\n').ec2sync, false);
    assert.equal(flags('EC2SYNC=yes\n').ec2sync, true);
  });

  test('MAINROUTETABLE=no keeps the value as written', () => {
    const f = flags('MAINROUTETABLE=no\n');
    assert.equal(f.mainRouteTable, false);
    assert.equal(f.mainRouteTableValue, 'no');
  });

  test('EC2PROVISIONPFXIPS=yes', () => {
    const f = flags('EC2PROVISIONPFXIPS=yes\n');
    assert.equal(f.provisionPrefixIps, true);
    assert.equal(f.provisionPrefixIpsValue, 'yes');
  });

  test('quoted values', () => {
    const f = flags('EC2SYNC="no"\nMAINROUTETABLE=\'no\'\nEC2PROVISIONPFXIPS="yes"\n');
    assert.equal(f.ec2sync, false);
    assert.equal(f.mainRouteTable, false);
    assert.equal(f.provisionPrefixIps, true);
    assert.equal(f.provisionPrefixIpsValue, 'yes');
  });

  test('comments, blank lines, indentation and a trailing comment', () => {
    const text = [
      '# Created by the admin',
      '',
      '   # indented comment',
      'DEVICE=eth1',
      '  EC2SYNC=no   # hands off',
      'NAME="System eth1"',
      '',
    ].join('\n');
    const f = flags(text);
    assert.equal(f.ec2sync, false);
    assert.equal(f.mainRouteTable, true);
  });

  test('CRLF line endings are read', () => {
    assert.equal(flags('DEVICE=eth1\r\nEC2SYNC=no\r\n').ec2sync, false);
  });

  test('the last assignment wins, as in a shell', () => {
    assert.equal(flags('EC2SYNC=no\nEC2SYNC=yes\n').ec2sync, true);
    assert.equal(flags('EC2SYNC=yes\nEC2SYNC=no\n').ec2sync, false);
  });

  test('yesNo', () => {
    assert.equal(yesNo('yes'), true);
    assert.equal(yesNo('YES'), true);
    assert.equal(yesNo('no'), false);
    assert.equal(yesNo('No'), false);
    assert.equal(yesNo(''), undefined);
    assert.equal(yesNo(undefined), undefined);
    assert.equal(yesNo('maybe'), undefined);
    assert.equal(yesNo('yes '), undefined);
  });

  const refusedFiles: [string, string][] = [
    ['a garbage line', 'DEVICE=eth1\nthis is not a key value line\n'],
    ['a bare word', 'EC2SYNC\n'],
    ['command substitution', 'EC2SYNC=$(reboot)\n'],
    ['command substitution in double quotes', 'EC2SYNC="$(reboot)"\n'],
    ['command substitution in another key', 'DEVICE=eth1\nNAME=$(id)\n'],
    ['variable expansion', 'EC2SYNC=$NO\n'],
    ['backticks', 'EC2SYNC=`reboot`\n'],
    ['backticks in double quotes', 'NAME="`id`"\n'],
    ['a command after a semicolon', 'EC2SYNC=no; reboot\n'],
    ['a pipe', 'EC2SYNC=no|reboot\n'],
    ['a redirection', 'EC2SYNC=no>/etc/passwd\n'],
    ['a continuation line', 'NAME=abc\\\nreboot\n'],
    ['an unterminated quote', 'NAME="abc\n'],
    ['a word after a quoted value', 'NAME="abc"def\n'],
    ['an unquoted value with a space', 'NAME=System eth1\n'],
    ['export', 'export EC2SYNC=no\n'],
    ['a NUL byte in a flag', 'DEVICE=eth1\nEC2SYNC=no\0\n'],
    ['a NUL byte in another key', 'DEVICE=eth1\0\nEC2SYNC=no\n'],
    ['a NUL byte in a comment', '# \0\nEC2SYNC=no\n'],
    ['a flag that is not yes or no', 'EC2SYNC=maybe\n'],
    ['MAINROUTETABLE that is not yes or no', 'MAINROUTETABLE=off\n'],
    ['EC2PROVISIONPFXIPS that is not yes or no', 'EC2PROVISIONPFXIPS=all\n'],
    ['a flag with a space inside quotes', 'EC2SYNC="yes no"\n'],
    ['a flag with a space inside single quotes', "MAINROUTETABLE='no no'\n"],
    ['a flag with a leading space inside quotes', 'EC2PROVISIONPFXIPS=" yes"\n'],
    ['a flag with $() inside single quotes', "EC2PROVISIONPFXIPS='$(reboot)'\n"],
    ['a flag with a newline escape', 'EC2SYNC="no\\n"\n'],
    ['an over-large file', `${'# padding\n'.repeat(7000)}EC2SYNC=no\n`],
  ];
  for (const [name, text] of refusedFiles) {
    test(`refuses ${name}`, () => {
      assert.throws(
        () => flags(text),
        (e: unknown) => e instanceof Ec2netError && e.kind === 'InvalidArgument' && e.fields.path === '/etc/sysconfig/network-scripts/ifcfg-eth1',
      );
    });
  }

  test('a refused flag names the key', () => {
    assert.throws(
      () => flags('EC2SYNC=yes\nMAINROUTETABLE=maybe\n'),
      (e: unknown) => e instanceof Ec2netError && e.fields.key === 'MAINROUTETABLE',
    );
  });
});

describe('parseKeyValues', () => {
  test('reads the accepted subset', () => {
    const m = parseKeyValues(
      ['A=1', 'B="two words"', "C='single $quoted'", 'D=', 'E=""', '# comment', '', 'F=x # trailing', '_G9=ok'].join('\n'),
      'f',
    );
    assert.deepEqual(
      [...m.entries()],
      [
        ['A', '1'],
        ['B', 'two words'],
        ['C', 'single $quoted'],
        ['D', ''],
        ['E', ''],
        ['F', 'x'],
        ['_G9', 'ok'],
      ],
    );
  });

  test('a refused line is reported by number', () => {
    assert.throws(
      () => parseKeyValues('A=1\n# ok\nB=$(id)\n', 'f'),
      (e: unknown) => e instanceof Ec2netError && e.kind === 'InvalidArgument' && e.fields.line === 3 && e.fields.path === 'f',
    );
  });

  test('keys must be shell identifiers', () => {
    for (const text of ['1A=x', 'A-B=x', 'A B=x', '=x', 'A.B=x']) {
      assert.throws(() => parseKeyValues(text, 'f'), Ec2netError, text);
    }
  });
});
