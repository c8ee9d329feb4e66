/**
 * Self-test of the simulated VPC. Run inside the sandbox:
 *   node build/scripts/sandbox.js node --test build/test/net/vpc.test.js
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { netnsInode } from '../vpc/guard.js';
import { childrenOf, isRunning } from '../vpc/proc.js';
import { DHCLIENT_SCRIPT, Vpc, type EniSpec, type HttpAnswer } from '../vpc/vpc.js';

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
