/**
 * Self-test of the simulated VPC. Run inside the sandbox:
 *   node build/scripts/sandbox.js node --test build/test/net/vpc.test.js
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { linkLocal } from '../vpc/addr.js';
import { hostsFileContent } from '../vpc/dnsmasq.js';
import { netnsInode } from '../vpc/guard.js';
import { childrenOf, isRunning, waitFor } from '../vpc/proc.js';
import { DHCLIENT_SCRIPT, Vpc, type EniSpec, type HttpAnswer, type NsRole } from '../vpc/vpc.js';

const ENI0: EniSpec = { id: 'eni-0000000000000000a', mac: '0a:00:00:00:00:0a', ifname: 'eth0', subnet: 's1', deviceNumber: 0, ipv4s: ['10.0.1.10'] };
const ENI1: EniSpec = { id: 'eni-0000000000000000b', mac: '0a:00:00:00:00:0b', ifname: 'eth1', subnet: 's2', deviceNumber: 1, ipv4s: ['10.0.2.20'] };
const TTL = { 'X-aws-ec2-metadata-token-ttl-seconds': '60' };
const MACS = '/latest/meta-data/network/interfaces/macs/';
const UNREACHABLE_WAIT_MS = 1_000;

let vpc: Vpc;

before(async () => {
  vpc = await Vpc.create({ subnets: [{ name: 's1', cidr: '10.0.1.0/24' }, { name: 's2', cidr: '10.0.2.0/24' }] });
  await vpc.attach(ENI0);
  await vpc.attach(ENI1);
});

after(() => vpc.destroy());

/** One IMDS request from inside the instance namespace; status 0 when no answer came. */
async function imds(method: string, path: string, headers: Record<string, string> = {}): Promise<HttpAnswer & { ms: number }> {
  const started = Date.now();
  const answer = await vpc.http('instance', `${vpc.imdsUrl}${path}`, { method, headers });
  return { ...answer, ms: Date.now() - started };
}

async function token(): Promise<Record<string, string>> {
  const answer = await imds('PUT', '/latest/api/token', TTL);
  assert.equal(answer.status, 200);
  return { 'X-aws-ec2-metadata-token': answer.body };
}

/** GET with a fresh token → [status, body]. */
async function metadataGetter(): Promise<(path: string) => Promise<[number, string]>> {
  const auth = await token();
  return (path) => imds('GET', path, auth).then((a) => [a.status, a.body]);
}

async function inInstance(...commands: string[][]): Promise<void> {
  for (const argv of commands) {
    const result = await vpc.exec('instance', argv);
    assert.equal(result.code, 0, `${argv.join(' ')}: ${result.stderr}`);
  }
}

test('the guard refuses to run outside the sandbox', () => {
  const vpcModule = new URL('../vpc/vpc.js', import.meta.url).href;
  const guardModule = new URL('../vpc/guard.js', import.meta.url).href;
  const unset = { ...process.env };
  delete unset.EC2NET_SANDBOX;
  const create = spawnSync(process.execPath, ['--input-type=module', '-e',
    `const { Vpc } = await import(${JSON.stringify(vpcModule)}); await Vpc.create({ subnets: [] });`], { env: unset, encoding: 'utf8', timeout: 10_000 });
  assert.notEqual(create.status, 0);
  assert.match(create.stderr, /EC2NET_SANDBOX is not set/);

  const sameNs = spawnSync(process.execPath, ['--input-type=module', '-e',
    `(await import(${JSON.stringify(guardModule)})).assertSandboxed();`],
    { env: { ...process.env, EC2NET_SANDBOX: String(netnsInode()) }, encoding: 'utf8', timeout: 10_000 });
  assert.notEqual(sameNs.status, 0);
  assert.match(sameNs.stderr, /shares the launcher's network namespace/);
});

test('IMDSv2 token semantics', async () => {
  assert.equal((await imds('PUT', '/latest/api/token')).status, 400);
  assert.equal((await imds('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '0' })).status, 400);
  assert.equal((await imds('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '21601' })).status, 400);
  assert.equal((await imds('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' })).status, 200);
  assert.equal((await imds('PUT', '/latest/api/token', { ...TTL, 'X-Forwarded-For': '10.0.1.10' })).status, 403);
  assert.equal((await imds('GET', '/latest/api/token')).status, 405);
  assert.equal((await imds('GET', '/latest/meta-data/instance-id')).status, 401);
  assert.equal((await imds('GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': 'forged' })).status, 401);
  const auth = await token();
  assert.deepEqual(await imds('GET', '/latest/meta-data/instance-id', auth).then((a) => [a.status, a.body]), [200, 'i-0123456789abcdef0']);
  assert.equal((await imds('GET', '/latest/meta-data/no-such-key', auth)).status, 404);
  assert.equal((await imds('POST', '/latest/meta-data/instance-id', auth)).status, 405);
  await vpc.imds.expireTokens();
  assert.equal((await imds('GET', '/latest/meta-data/instance-id', auth)).status, 401);
});

test('IMDS tree and directory listings', async () => {
  const get = await metadataGetter();
  const [, top] = await get('/latest/meta-data/');
  assert.deepEqual(top.split('\n'), ['instance-id', 'local-hostname', 'local-ipv4', 'mac', 'network/']);
  assert.deepEqual(await get('/latest/meta-data/mac'), [200, ENI0.mac]);
  assert.deepEqual(await get('/latest/meta-data/local-ipv4'), [200, '10.0.1.10']);
  assert.deepEqual(await get('/latest/meta-data/local-hostname'), [200, 'ip-10-0-1-10.ec2.internal']);
  assert.deepEqual(await get(MACS), [200, `${ENI0.mac}/\n${ENI1.mac}/`]);
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/`), [200, [
    'device-number', 'interface-id', 'local-ipv4s', 'mac', 'subnet-id', 'subnet-ipv4-cidr-block', 'vpc-id',
    'vpc-ipv4-cidr-block', 'vpc-ipv4-cidr-blocks'].join('\n')]);
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/device-number`), [200, '1']);
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/interface-id`), [200, ENI1.id]);
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/subnet-ipv4-cidr-block`), [200, '10.0.2.0/24']);
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/vpc-ipv4-cidr-blocks`), [200, '10.0.0.0/16']);
  assert.equal((await get(`${MACS}${ENI1.mac}/ipv4-prefix`))[0], 404);
  assert.equal((await get(`${MACS}${ENI1.mac}/network-card`))[0], 404);
});

test('assignment changes and overrides are visible to the next GET', async () => {
  const get = await metadataGetter();
  await vpc.assignIpv4(ENI1.id, '10.0.2.21');
  await vpc.assignPrefix(ENI1.id, '10.0.2.32/28');
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/local-ipv4s`), [200, '10.0.2.20\n10.0.2.21']);
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/ipv4-prefix`), [200, '10.0.2.32/28']);
  await vpc.unassignIpv4(ENI1.id, '10.0.2.21');
  await vpc.unassignPrefix(ENI1.id, '10.0.2.32/28');
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/local-ipv4s`), [200, '10.0.2.20']);
  assert.equal((await get(`${MACS}${ENI1.mac}/ipv4-prefix`))[0], 404);

  await vpc.imds.setOverride(`network/interfaces/macs/${ENI1.mac}/device-number`, '0');
  await vpc.imds.setOverride(`network/interfaces/macs/${ENI1.mac}/subnet-id`, null);
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/device-number`), [200, '0']);
  assert.equal((await get(`${MACS}${ENI1.mac}/subnet-id`))[0], 404);
  assert.doesNotMatch((await get(`${MACS}${ENI1.mac}/`))[1], /subnet-id/);
  await vpc.imds.clearOverrides();
  assert.deepEqual(await get(`${MACS}${ENI1.mac}/device-number`), [200, '1']);
});

test('IMDS faults: status for N requests, reset, delay', async () => {
  const auth = await token();
  await vpc.imds.clearLog();
  await vpc.imds.setFault('/latest/meta-data/instance-id', { status: 500, times: 2 });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await imds('GET', '/latest/meta-data/instance-id', auth)).status);
  assert.deepEqual(statuses, [500, 500, 200]);
  const log = await vpc.imds.requests();
  assert.deepEqual(log.filter((r) => r.path === '/latest/meta-data/instance-id').map((r) => r.status), [500, 500, 200]);

  await vpc.imds.setFault('/latest/api/token', { reset: true, times: 1 });
  const reset = await imds('PUT', '/latest/api/token', TTL);
  assert.equal(reset.status, 0);
  assert.match(reset.error ?? '', /socket hang up|ECONNRESET/);
  assert.equal((await imds('PUT', '/latest/api/token', TTL)).status, 200);

  await vpc.imds.setFault(MACS, { delayMs: 500 });
  const slow = await imds('GET', `${MACS}${ENI0.mac}/mac`, auth);
  assert.deepEqual([slow.status, slow.body], [200, ENI0.mac]);
  assert.ok(slow.ms >= 500, `answered after ${slow.ms} ms`);

  await vpc.imds.setFault('/latest/meta-data/', { status: 503 });
  assert.equal((await imds('GET', '/latest/meta-data/mac', auth)).status, 503);
  await vpc.imds.clearFaults();
  assert.equal((await imds('GET', '/latest/meta-data/mac', auth)).status, 200);
});

test('DHCP hands a secondary ENI its bound address, router and MTU', async () => {
  const conf = join(vpc.tmpDir, 'dhclient.conf');
  const dump = join(vpc.tmpDir, 'dhcp-eth1.env');
  writeFileSync(conf, 'timeout 10;\nrequest subnet-mask, routers, interface-mtu;\n');
  const result = await vpc.exec('instance', ['dhclient', '-1', '-v', '-sf', DHCLIENT_SCRIPT, '-cf', conf, '-e', `DHCP_DUMP=${dump}`,
    '-lf', join(vpc.tmpDir, 'dhclient-eth1.leases'), '-pf', join(vpc.tmpDir, 'dhclient-eth1.pid'), 'eth1'], { timeoutMs: 20_000 });
  assert.equal(result.code, 0, result.stderr);
  const addr = await vpc.exec('instance', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth1']);
  assert.match(addr.stdout, /inet 10\.0\.2\.20\/24 /);
  const offered = readFileSync(dump, 'utf8');
  assert.match(offered, /^new_routers=10\.0\.2\.1$/m);
  assert.match(offered, /^new_interface_mtu=9001$/m);
  const neigh = await vpc.exec('vpc', ['ip', 'neigh', 'show', '10.0.2.20']);
  assert.match(neigh.stdout, /lladdr 0a:00:00:00:00:0b PERMANENT/, 'the DHCP exchange changed how the router delivers');
});

test('the source/destination check drops what the VPC would drop', async () => {
  await inInstance(['ip', 'link', 'set', 'eth1', 'up'], ['ip', 'addr', 'replace', '10.0.2.20/24', 'dev', 'eth1']);
  const eth0Drops = await vpc.sourceCheckDrops(ENI0.id);
  const asymmetric = await vpc.reachable(['10.0.1.10', '10.0.2.20'], { timeoutMs: UNREACHABLE_WAIT_MS });
  assert.deepEqual([...asymmetric], [['10.0.1.10', true], ['10.0.2.20', false]]);
  assert.ok((await vpc.sourceCheckDrops(ENI0.id)) > eth0Drops, 'the reply that left eth0 from eth1\'s address was not dropped');

  await inInstance(['ip', 'rule', 'add', 'from', '10.0.2.20', 'lookup', '100'], ['ip', 'route', 'add', 'default', 'via', '10.0.2.1', 'dev', 'eth1', 'table', '100']);
  assert.deepEqual([...await vpc.reachable(['10.0.2.20'])], [['10.0.2.20', true]]);

  const spoof = '10.0.2.99';
  await inInstance(['ip', 'addr', 'add', `${spoof}/24`, 'dev', 'eth1'], ['ip', 'rule', 'add', 'from', spoof, 'lookup', '100']);
  let eth1Drops = await vpc.sourceCheckDrops(ENI1.id);
  assert.deepEqual([...await vpc.reachable([spoof], { timeoutMs: UNREACHABLE_WAIT_MS })], [[spoof, false]]);
  assert.ok((await vpc.sourceCheckDrops(ENI1.id)) > eth1Drops, 'the unassigned source was not dropped');
  await vpc.assignIpv4(ENI1.id, spoof);
  assert.deepEqual([...await vpc.reachable([spoof])], [[spoof, true]]);
  await vpc.unassignIpv4(ENI1.id, spoof);
  assert.deepEqual([...await vpc.reachable([spoof], { timeoutMs: UNREACHABLE_WAIT_MS })], [[spoof, false]]);

  await vpc.assignPrefix(ENI1.id, '10.0.2.48/28');
  await inInstance(['ip', 'addr', 'add', '10.0.2.50/32', 'dev', 'eth1'], ['ip', 'rule', 'add', 'from', '10.0.2.48/28', 'lookup', '100']);
  assert.deepEqual([...await vpc.reachable(['10.0.2.50'])], [['10.0.2.50', true]], 'an address of a delegated prefix');

  eth1Drops = await vpc.sourceCheckDrops(ENI1.id);
  await inInstance(['ip', 'link', 'set', 'eth1', 'address', '0a:00:00:00:00:99']);
  await vpc.http('instance', 'http://10.0.2.1/', { timeoutMs: 1_000 });
  assert.ok((await vpc.sourceCheckDrops(ENI1.id)) > eth1Drops, 'a frame from a foreign MAC was not dropped');
  await inInstance(['ip', 'link', 'set', 'eth1', 'address', ENI1.mac]);
});

test('detach removes every trace of the ENI', async () => {
  await vpc.detach(ENI1.id);
  const auth = await token();
  assert.deepEqual(await imds('GET', MACS, auth).then((a) => [a.status, a.body]), [200, `${ENI0.mac}/`]);
  assert.notEqual((await vpc.exec('instance', ['ip', 'link', 'show', 'eth1'])).code, 0);
  const ruleset = await vpc.exec('vpc', ['nft', 'list', 'ruleset']);
  assert.doesNotMatch(ruleset.stdout, /eni_1|src_1|drop_1|"e1"/);
  const neigh = await vpc.exec('vpc', ['ip', 'neigh', 'show', 'nud', 'permanent']);
  assert.doesNotMatch(neigh.stdout, /10\.0\.2\.20/);
  assert.match(neigh.stdout, /10\.0\.1\.10 dev br0 lladdr 0a:00:00:00:00:0a PERMANENT/);
  assert.doesNotMatch(readFileSync(join(vpc.tmpDir, 'dhcp-hosts'), 'utf8'), new RegExp(ENI1.mac));
  await assert.rejects(vpc.sourceCheckDrops(ENI1.id), /no attached ENI/);
});

test('a second, multi-card VPC coexists and answers network-card', async () => {
  const other = await Vpc.create({ subnets: [{ name: 'a', cidr: '172.31.0.0/20' }], multiCard: true, vpcCidr: '172.31.0.0/16' });
  try {
    assert.notEqual(other.vpcNs, vpc.vpcNs);
    await other.attach({ id: 'eni-c1', mac: '0e:00:00:00:01:00', ifname: 'eth1', subnet: 'a', deviceNumber: 0, networkCard: 1, ipv4s: ['172.31.0.5'] });
    await other.attach({ id: 'eni-c0', mac: '0e:00:00:00:00:00', ifname: 'eth0', subnet: 'a', deviceNumber: 0, ipv4s: ['172.31.0.4'] });
    const auth = await other.http('instance', `${other.imdsUrl}/latest/api/token`, { method: 'PUT', headers: TTL });
    const get = async (path: string): Promise<string> => (await other.http('instance', `${other.imdsUrl}/latest/meta-data/${path}`, {
      headers: { 'X-aws-ec2-metadata-token': auth.body },
    })).body;
    assert.equal(await get('mac'), '0e:00:00:00:00:00', 'the primary ENI is device 0 on card 0');
    assert.equal(await get('network/interfaces/macs/0e:00:00:00:01:00/network-card'), '1');
    assert.equal(await get('network/interfaces/macs/0e:00:00:00:00:00/network-card'), '0');
    assert.equal(await get('network/interfaces/macs/0e:00:00:00:00:00/vpc-ipv4-cidr-block'), '172.31.0.0/16');
  } finally {
    await other.destroy();
  }
});

test('destroy leaves no namespaces, processes or files', async () => {
  const ours = (): string[] => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 }).stdout
    .split('\n').filter((line) => line.startsWith(`${vpc.prefix}-`));
  assert.equal(ours().length, 3);
  const pids = vpc.processes();
  assert.ok(pids.length >= 4, `expected dnsmasq, IMDS, echo and dhclient, found ${pids.length}`);
  await vpc.destroy();
  await vpc.destroy();
  assert.deepEqual(ours(), []);
  assert.deepEqual(pids.filter(isRunning), []);
  assert.deepEqual(childrenOf(process.pid).filter(isRunning), []);
  assert.equal(existsSync(vpc.tmpDir), false);
});

test('harness renderers: EUI-64 link-local addresses and dhcp-hosts lines', () => {
  assert.equal(linkLocal('02:e2:0e:00:00:01'), 'fe80::e2:eff:fe00:1');
  assert.equal(linkLocal('0a:00:00:00:01:0b'), 'fe80::800:ff:fe00:10b');
  assert.equal(hostsFileContent(new Map([
    ['0a:00:00:00:00:01', { ipv4: '10.0.1.5' }],
    ['0a:00:00:00:00:02', { ipv4: '10.0.1.6', ipv6: '2001:db8:1::6' }],
    ['0a:00:00:00:00:03', { ipv6: '2001:db8:3::7' }],
    ['0a:00:00:00:00:04', {}],
  ])), '0a:00:00:00:00:01,10.0.1.5\n0a:00:00:00:00:02,10.0.1.6,[2001:db8:1::6]\n0a:00:00:00:00:03,[2001:db8:3::7]\n');
});

describe('IPv6', () => {
  /**
   * The kernel solicits a router as soon as its link-local address has passed DAD (1 s, after a random delay of up
   * to 1 s), and dnsmasq answers at once.
   */
  const RA_WAIT_MS = 4_000;
  const DAD_WAIT_MS = 5_000;
  const DHCP_TIMEOUT_S = 10;
  /** Long enough for a DHCPv4 server that is there to answer; the IPv6-only subnet has none. */
  const NO_DHCP4_TIMEOUT_S = 3;
  const DHCLIENT_SLACK_S = 10;
  const FAULT_FOR_MS = 3_000;
  const FAULT_WAIT_MS = FAULT_FOR_MS + 3_000;
  const TABLE = '100';
  const P0: EniSpec = {
    id: 'eni-0000000000000006a', mac: '0a:00:00:00:01:0a', ifname: 'eth0', subnet: 'd1', deviceNumber: 0, ipv4s: ['10.0.1.10'], ipv6s: ['2001:db8:1::10'],
  };
  const S1: EniSpec = {
    id: 'eni-0000000000000006b', mac: '0a:00:00:00:01:0b', ifname: 'eth1', subnet: 'd2', deviceNumber: 1, ipv4s: ['10.0.2.20'],
    ipv6s: ['2001:db8:2::20', '2001:db8:2::21'], ipv6Prefixes: ['2001:db8:2:0:1::/80'],
  };
  const O2: EniSpec = {
    id: 'eni-0000000000000006c', mac: '0a:00:00:00:01:0c', ifname: 'eth2', subnet: 'o6', deviceNumber: 2, ipv4s: ['169.254.0.5'], ipv6s: ['2001:db8:3::30'],
  };
  let v6: Vpc;

  before(async () => {
    v6 = await Vpc.create({ subnets: [
      { name: 'd1', cidr: '10.0.1.0/24', ipv6Cidr: '2001:db8:1::/64' },
      { name: 'd2', cidr: '10.0.2.0/24', ipv6Cidr: '2001:db8:2::/64' },
      { name: 'o6', ipv6Cidr: '2001:db8:3::/64' },
      { name: 'p4', cidr: '10.0.4.0/24' },
    ] });
  });
  after(() => v6.destroy());

  async function sh(role: NsRole, ...argv: string[]): Promise<string> {
    const result = await v6.exec(role, argv);
    assert.equal(result.code, 0, `${argv.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }

  /** Waits for the default route a router advertisement installs on `ifname`; its gateway and the ms it took. */
  async function raDefaultRoute(ifname: string, since: number): Promise<{ via: string; ms: number }> {
    let via = '';
    await waitFor(`an RA default route on ${ifname}`, async () => {
      const routes = await sh('instance', 'ip', '-6', 'route', 'show', 'default', 'dev', ifname);
      via = /^default via (\S+) proto ra /m.exec(routes)?.[1] ?? '';
      return via !== '';
    }, RA_WAIT_MS).catch((err: Error) => assert.fail(`${err.message}\n${v6.dhcpLog().slice(-2_000)}`));
    return { via, ms: Date.now() - since };
  }

  /**
   * `dhclient -1` on `ifname` with a script that records the environment of each of its calls as REASON.env in a
   * fresh directory. A bound dhclient stays running as a daemon until the VPC is destroyed.
   */
  async function dhclient(family: '-4' | '-6', ifname: string, timeoutS: number): Promise<{ code: number; stderr: string; dir: string }> {
    if (family === '-6') {
      await waitFor(`${ifname}'s link-local address to pass DAD`, async () => {
        const lls = await sh('instance', 'ip', '-6', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'link');
        return lls.includes('fe80::') && !lls.includes('tentative');
      }, DAD_WAIT_MS);
    }
    const dir = mkdtempSync(join(v6.tmpDir, `dhclient${family}-${ifname}-`));
    const script = join(dir, 'script');
    writeFileSync(script, `#!/bin/sh\nenv | sort > "${dir}/$reason.env"\nexit 0\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'conf'), `timeout ${timeoutS};\n`);
    const result = await v6.exec('instance', ['dhclient', family, '-1', '-v', '-sf', script, '-cf', join(dir, 'conf'),
      '-lf', join(dir, 'leases'), '-pf', join(dir, 'pid'), ifname], { timeoutMs: (timeoutS + DHCLIENT_SLACK_S) * 1000 });
    return { code: result.code, stderr: result.stderr, dir };
  }

  async function get6(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpAnswer> {
    return v6.http('instance', `${v6.imdsUrl6}${path}`, { method, headers });
  }

  async function token6(): Promise<Record<string, string>> {
    const answer = await get6('/latest/api/token', TTL, 'PUT');
    assert.equal(answer.status, 200);
    return { 'X-aws-ec2-metadata-token': answer.body };
  }

  test('the primary ENI gets its IPv6 default route by RA, and the remote host reaches its IPv6 address', async (t) => {
    const attached = Date.now();
    await v6.attach(P0);
    const ra = await raDefaultRoute('eth0', attached);
    t.diagnostic(`attach to RA default route: ${ra.ms} ms`);
    assert.equal(ra.via, v6.gateway6('d1'));
    // the prefix information option installs the on-link route, with the prefix's valid lifetime
    assert.match(await sh('instance', 'ip', '-6', 'route', 'show', '2001:db8:1::/64'), /^2001:db8:1::\/64 dev eth0 proto kernel .*expires /, 'the prefix is on-link');
    const globals = await sh('instance', 'ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global');
    assert.deepEqual([...globals.matchAll(/inet6 (\S+)/g)].map((m) => m[1]), ['2001:db8:1::10/128'], 'no SLAAC address besides the configured one');
    assert.deepEqual([...await v6.reachable(['2001:db8:1::10', '10.0.1.10'])], [['2001:db8:1::10', true], ['10.0.1.10', true]]);
  });

  test('a secondary ENI gets the RA default route (proto ra, via the router link-local) after link up', async (t) => {
    await v6.attach(S1);
    const up = Date.now();
    await sh('instance', 'ip', 'link', 'set', 'eth1', 'up');
    const ra = await raDefaultRoute('eth1', up);
    t.diagnostic(`link up to RA default route: ${ra.ms} ms`);
    assert.equal(ra.via, v6.gateway6('d2'));
    assert.equal(ra.via, linkLocal('02:e2:0e:00:00:02'));
  });

  test('dhclient -6 gets the ENI\'s first IPv6 address from DHCPv6', async (t) => {
    const started = Date.now();
    const run = await dhclient('-6', 'eth1', DHCP_TIMEOUT_S);
    t.diagnostic(`dhclient -6 to BOUND6: ${Date.now() - started} ms`);
    assert.equal(run.code, 0, `${run.stderr}\n${v6.dhcpLog().slice(-2_000)}`);
    const bound = readFileSync(join(run.dir, 'BOUND6.env'), 'utf8');
    assert.match(bound, /^new_ip6_address=2001:db8:2::20$/m);
    assert.match(bound, /^interface=eth1$/m);
  });

  test('a secondary ENI\'s IPv6 addresses answer only with a source rule: the v6 source check bites', async () => {
    await sh('instance', 'ip', '-6', 'addr', 'add', '2001:db8:2::20/128', 'dev', 'eth1', 'nodad');
    const eth0Drops = await v6.sourceCheckDrops(P0.id);
    assert.deepEqual([...await v6.reachable(['2001:db8:2::20'], { timeoutMs: UNREACHABLE_WAIT_MS })], [['2001:db8:2::20', false]]);
    assert.ok((await v6.sourceCheckDrops(P0.id)) > eth0Drops, 'the reply that left eth0 from eth1\'s address was not dropped');

    const gateway = /^default via (fe80::\S+) proto ra /m.exec(await sh('instance', 'ip', '-6', 'route', 'show', 'default', 'dev', 'eth1'))?.[1];
    if (gateway === undefined) assert.fail('no RA-learned gateway on eth1');
    await sh('instance', 'ip', '-6', 'rule', 'add', 'from', '2001:db8:2::20', 'lookup', TABLE);
    await sh('instance', 'ip', '-6', 'route', 'add', 'default', 'via', gateway, 'dev', 'eth1', 'table', TABLE);
    assert.deepEqual([...await v6.reachable(['2001:db8:2::20'])], [['2001:db8:2::20', true]]);

    const spoof = '2001:db8:2::99';
    await sh('instance', 'ip', '-6', 'addr', 'add', `${spoof}/128`, 'dev', 'eth1', 'nodad');
    await sh('instance', 'ip', '-6', 'rule', 'add', 'from', spoof, 'lookup', TABLE);
    const eth1Drops = await v6.sourceCheckDrops(S1.id);
    assert.deepEqual([...await v6.reachable([spoof], { timeoutMs: UNREACHABLE_WAIT_MS })], [[spoof, false]]);
    assert.ok((await v6.sourceCheckDrops(S1.id)) > eth1Drops, 'the unassigned IPv6 source was not dropped');
    await v6.assignIpv6(S1.id, spoof);
    assert.deepEqual([...await v6.reachable([spoof])], [[spoof, true]]);
    await v6.unassignIpv6(S1.id, spoof);
    assert.deepEqual([...await v6.reachable([spoof], { timeoutMs: UNREACHABLE_WAIT_MS })], [[spoof, false]]);
  });

  test('a delegated IPv6 prefix is routed to the ENI via its link-local address', async () => {
    const inPrefix = '2001:db8:2:0:1::5';
    await sh('instance', 'ip', '-6', 'addr', 'add', `${inPrefix}/128`, 'dev', 'eth1', 'nodad');
    await sh('instance', 'ip', '-6', 'rule', 'add', 'from', '2001:db8:2:0:1::/80', 'lookup', TABLE);
    assert.deepEqual([...await v6.reachable([inPrefix])], [[inPrefix, true]]);
    assert.match(await sh('vpc', 'ip', '-6', 'route', 'show', '2001:db8:2:0:1::/80'), new RegExp(`via ${linkLocal(S1.mac)} dev br1`));
    assert.match(await sh('vpc', 'ip', '-6', 'neigh', 'show', linkLocal(S1.mac)), /lladdr 0a:00:00:00:01:0b PERMANENT/);

    await v6.unassignPrefix(S1.id, '2001:db8:2:0:1::/80');
    assert.deepEqual([...await v6.reachable([inPrefix], { timeoutMs: UNREACHABLE_WAIT_MS })], [[inPrefix, false]]);
    assert.equal(await sh('vpc', 'ip', '-6', 'route', 'show', '2001:db8:2:0:1::/80'), '');
    assert.equal(await sh('vpc', 'ip', '-6', 'neigh', 'show', 'nud', 'permanent', linkLocal(S1.mac)), '', 'no prefix left, no link-local neighbour');
    await v6.assignPrefix(S1.id, '2001:db8:2:0:1::/80');
    assert.deepEqual([...await v6.reachable([inPrefix])], [[inPrefix, true]]);
  });

  test('IMDS answers at [fd00:ec2::254] with token semantics, also while the IPv4 endpoint is blocked', async () => {
    assert.equal((await get6('/latest/api/token', {}, 'PUT')).status, 400);
    assert.equal((await get6('/latest/meta-data/mac')).status, 401);
    const auth = await token6();
    assert.deepEqual(await get6('/latest/meta-data/mac', auth).then((a) => [a.status, a.body]), [200, P0.mac]);
    const v4 = await v6.http('instance', `${v6.imdsUrl}/latest/meta-data/mac`, { headers: auth });
    assert.deepEqual([v4.status, v4.body], [200, P0.mac], 'a token from one endpoint is good at the other');

    await v6.imds.clearLog();
    await v6.blockImdsV4(true);
    try {
      const blocked = await v6.http('instance', `${v6.imdsUrl}/latest/api/token`, { method: 'PUT', headers: TTL, timeoutMs: UNREACHABLE_WAIT_MS });
      assert.equal(blocked.status, 0);
      const fresh = await token6();
      assert.deepEqual(await get6('/latest/meta-data/instance-id', fresh).then((a) => [a.status, a.body]), [200, 'i-0123456789abcdef0']);
      await v6.imds.expireTokens();
      assert.equal((await get6('/latest/meta-data/instance-id', fresh)).status, 401);
    } finally {
      await v6.blockImdsV4(false);
    }
    assert.deepEqual((await v6.imds.requests()).map((r) => `${r.method} ${r.status}`), ['PUT 200', 'GET 200', 'GET 401'], 'the blocked request never arrived');
    assert.equal((await v6.http('instance', `${v6.imdsUrl}/latest/api/token`, { method: 'PUT', headers: TTL })).status, 200);
  });

  test('IMDS lists the IPv6 keys of each ENI', async () => {
    const auth = await token6();
    const get = (path: string): Promise<[number, string]> => get6(`${MACS}${path}`, auth).then((a) => [a.status, a.body]);
    assert.deepEqual(await get(`${S1.mac}/`), [200, [
      'device-number', 'interface-id', 'ipv6-prefix', 'ipv6s', 'local-ipv4s', 'mac', 'subnet-id', 'subnet-ipv4-cidr-block',
      'subnet-ipv6-cidr-blocks', 'vpc-id', 'vpc-ipv4-cidr-block', 'vpc-ipv4-cidr-blocks'].join('\n')]);
    assert.deepEqual(await get(`${S1.mac}/ipv6s`), [200, '2001:db8:2::20\n2001:db8:2::21']);
    assert.deepEqual(await get(`${S1.mac}/ipv6-prefix`), [200, '2001:db8:2:0:1::/80']);
    assert.deepEqual(await get(`${S1.mac}/subnet-ipv6-cidr-blocks`), [200, '2001:db8:2::/64']);
    assert.deepEqual(await get(`${S1.mac}/subnet-ipv4-cidr-block`), [200, '10.0.2.0/24']);
    assert.deepEqual(await get(`${P0.mac}/ipv6s`), [200, '2001:db8:1::10']);
    assert.equal((await get(`${P0.mac}/ipv6-prefix`))[0], 404);
  });

  test('an ENI in an IPv6-only subnet: a 169.254 address in IMDS only, RA and DHCPv6 only, and a key that 404s for its first seconds', async (t) => {
    const faultSet = Date.now();
    await v6.imds.setFault(`${MACS}${O2.mac}/ipv6s`, { status: 404, forMs: FAULT_FOR_MS });
    await v6.attach(O2);
    const auth = await token6();
    const get = (path: string): Promise<[number, string]> => get6(`${MACS}${O2.mac}/${path}`, auth).then((a) => [a.status, a.body]);
    assert.equal((await get('ipv6s'))[0], 404, 'the fault holds at first');
    let firstFound = 0;
    await waitFor('the ipv6s fault to run out', async () => {
      const [status] = await get('ipv6s');
      firstFound = Date.now();
      return status === 200;
    }, FAULT_WAIT_MS);
    assert.ok(firstFound - faultSet >= FAULT_FOR_MS, `404 ended after ${firstFound - faultSet} ms`);
    assert.deepEqual(await get('ipv6s'), [200, '2001:db8:3::30']);
    assert.deepEqual(await get('local-ipv4s'), [200, '169.254.0.5']);
    assert.equal((await get('subnet-ipv4-cidr-block'))[0], 404);
    assert.deepEqual(await get('subnet-ipv6-cidr-blocks'), [200, '2001:db8:3::/64']);

    assert.equal(await sh('vpc', 'ip', '-4', 'addr', 'show', 'dev', 'br2'), '', 'no IPv4 on an IPv6-only subnet\'s bridge');
    assert.equal(await sh('vpc', 'ip', '-4', 'neigh', 'show', '169.254.0.5'), '', 'the 169.254 address is not routed');
    assert.match(readFileSync(join(v6.tmpDir, 'dhcp-hosts'), 'utf8'), /^0a:00:00:00:01:0c,\[2001:db8:3::30\]$/m);
    const up = Date.now();
    await sh('instance', 'ip', 'link', 'set', 'eth2', 'up');
    const ra = await raDefaultRoute('eth2', up);
    t.diagnostic(`link up to RA default route: ${ra.ms} ms`);
    assert.equal(ra.via, v6.gateway6('o6'));
    const bound = await dhclient('-6', 'eth2', DHCP_TIMEOUT_S);
    assert.equal(bound.code, 0, bound.stderr);
    assert.match(readFileSync(join(bound.dir, 'BOUND6.env'), 'utf8'), /^new_ip6_address=2001:db8:3::30$/m);
    const v4 = await dhclient('-4', 'eth2', NO_DHCP4_TIMEOUT_S);
    assert.notEqual(v4.code, 0, 'DHCPv4 answered in an IPv6-only subnet');
    assert.equal(existsSync(join(v4.dir, 'BOUND.env')), false);
  });

  test('IPv6 assignments are validated like IPv4 ones', async () => {
    const spec = (over: Partial<EniSpec>): EniSpec => ({ id: 'eni-bad', mac: '0a:00:00:00:01:ff', ifname: 'eth9', subnet: 'd2', deviceNumber: 9, ipv4s: ['10.0.2.99'], ...over });
    await assert.rejects(v6.attach(spec({ ipv6s: ['2001:db8:1::5'] })), /not an address in subnet 2001:db8:2::\/64/);
    await assert.rejects(v6.attach(spec({ ipv6s: ['2001:db8:2::21'] })), /already assigned to eni-0000000000000006b/);
    await assert.rejects(v6.attach(spec({ ipv6s: ['2001:DB8:2::5'] })), /RFC 5952/);
    await assert.rejects(v6.attach(spec({ ipv6Prefixes: ['2001:db8:2:0:1::/80'] })), /already delegated/);
    await assert.rejects(v6.attach(spec({ ipv6Prefixes: ['2001:db8:1:0:1::/80'] })), /not inside subnet/);
    await assert.rejects(v6.attach(spec({ subnet: 'o6', ipv4s: ['10.0.2.99'] })), /169\.254\.0\.0\/16/);
    await assert.rejects(v6.attach(spec({ subnet: 'o6', ipv4s: ['169.254.0.5'] })), /already assigned/);
    await assert.rejects(v6.assignIpv4(O2.id, '169.254.0.6'), /IPv6-only/);
    await assert.rejects(v6.assignPrefix(O2.id, '10.0.2.64/28'), /IPv6-only/);
    await assert.rejects(v6.attach(spec({ subnet: 'p4', ipv4s: ['10.0.4.5'], ipv6s: ['2001:db8:2::5'] })), /subnet p4 has no IPv6 CIDR/);
  });

  test('detach removes the ENI\'s IPv6 neighbours, prefix routes, source set and DHCPv6 binding', async () => {
    await v6.detach(S1.id);
    assert.equal(await sh('vpc', 'ip', '-6', 'neigh', 'show', 'dev', 'br1', 'nud', 'permanent'), '');
    assert.equal(await sh('vpc', 'ip', '-6', 'route', 'show', '2001:db8:2:0:1::/80'), '');
    assert.doesNotMatch(await sh('vpc', 'nft', 'list', 'ruleset'), /src6_1\b|eni_1\b/);
    assert.doesNotMatch(readFileSync(join(v6.tmpDir, 'dhcp-hosts'), 'utf8'), new RegExp(S1.mac));
    assert.match(await sh('vpc', 'ip', '-6', 'neigh', 'show', 'nud', 'permanent'), /2001:db8:1::10 dev br0 lladdr 0a:00:00:00:01:0a PERMANENT/);
  });
});
