import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EC2NET_PROTOCOL, parseConfig, pathsFor } from '../../src/config.js';
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
