import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EC2NET_PROTOCOL, parseConfig, pathsFor, unmanagedBy } from '../../src/config.js';
import { Ec2netError } from '../../src/errors.js';
import { VERSION } from '../../src/version.js';

const repo = (p: string) => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const refused = (text: string, key?: string) =>
  assert.throws(() => parseConfig(text, '/etc/ec2net/ec2net.conf'), (e: unknown) => e instanceof Ec2netError && e.kind === 'InvalidArgument' && (key === undefined || e.fields.key === key));

test('no config file means the defaults', () => {
  assert.deepEqual(parseConfig(undefined, '/x'), {
    settings: { protocol: EC2NET_PROTOCOL, primaryRules: false },
    activation: 'auto',
    setHostname: false,
    backend: 'auto',
    provisionPrefixIps: false,
    mainRouteTable: true,
    unmanaged: [],
  });
});

describe('UNMANAGED', () => {
  const eni = { ifname: 'eth3', mac: '02:0a:00:00:00:03', eniId: 'eni-0123456789abcdef0', deviceNumber: 3, networkCard: 0 };
  const by = (value: string, over: Partial<typeof eni> = {}) => unmanagedBy(parseConfig(`UNMANAGED="${value}"\n`, '/x'), { ...eni, ...over });

  test('by interface name, MAC (any case), ENI id, device-number and network-card ranges; the first word that matches', () => {
    assert.equal(by('eth3'), 'eth3');
    assert.equal(by('eth4'), undefined);
    assert.equal(by('02:0A:00:00:00:03'), '02:0A:00:00:00:03');
    assert.equal(by('eni-0123456789abcdef0'), 'eni-0123456789abcdef0');
    assert.equal(by('eni-0123456789abcdef1'), undefined);
    assert.equal(by('device-number=3'), 'device-number=3');
    assert.equal(by('device-number=1-2'), undefined);
    assert.equal(by('device-number=1-5'), 'device-number=1-5');
    // "Manage the primary only" (the VPC CNI owns the rest, as on EKS nodes): every ENI but device 0 on card 0.
    const primaryOnly = 'device-number=1- network-card=1-';
    assert.equal(by(primaryOnly), 'device-number=1-');
    assert.equal(by(primaryOnly, { deviceNumber: 0 }), undefined);
    assert.equal(by(primaryOnly, { deviceNumber: 0, networkCard: 1 }), 'network-card=1-');
    assert.equal(by('  eth9   device-number=3 '), 'device-number=3');
  });

  test('a word that is none of the forms is refused with the key and the line named; so is an empty range', () => {
    for (const word of ['device-number=5-2', 'device-number=x', 'eni-XYZ', 'eth/1', 'name=eth1', 'device-number=1-2-3']) {
      assert.throws(
        () => parseConfig(`# ec2net.conf\nPRIMARY_RULES=no\nUNMANAGED="eth1 ${word}"\n`, '/etc/ec2net/ec2net.conf'),
        (e: unknown) => e instanceof Ec2netError && e.kind === 'InvalidArgument' && e.fields.key === 'UNMANAGED' && e.fields.line === 3 && e.message.includes(JSON.stringify(word)),
        word,
      );
    }
  });
});

test('the shipped, commented config file parses to the defaults', () => {
  assert.deepEqual(parseConfig(readFileSync(repo('packaging/ec2net.conf'), 'utf8'), '/x'), parseConfig(undefined, '/x'));
});

test('settings are read', () => {
  const c = parseConfig('PRIMARY_RULES=yes\nACTIVATION="dhclient"\n', '/x');
  assert.equal(c.settings.primaryRules, true);
  assert.equal(c.activation, 'dhclient');
});

test('unknown keys, bad values and shell syntax are refused', () => {
  refused('PRIMARY_RULE=yes\n', 'PRIMARY_RULE');
  refused('PRIMARY_RULES=maybe\n');
  refused('ACTIVATION=networkmanager\n');
  refused('ACTIVATION=$(reboot)\n');
  refused('garbage line\n');
});

test('the protocol number matches the rt_protos.d entry the package installs', () => {
  const entry = readFileSync(repo('packaging/rt_protos.d/ec2net.conf'), 'utf8').split('\n').find((l) => /^\d/.test(l));
  assert.equal(entry, `${EC2NET_PROTOCOL}\tec2net`);
});

test('EC2NET_ROOT relocates every path under /etc and /run', () => {
  const p = pathsFor('/tmp/r/');
  for (const v of Object.values(p).flat()) assert.ok(v.startsWith('/tmp/r'), v);
  assert.equal(p.networkScripts, '/tmp/r/etc/sysconfig/network-scripts');
});

test('VERSION matches package.json', () => {
  assert.equal(VERSION, (JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { version: string }).version);
});
