/**
 * ENIs that are not ec2net's to configure, and ENIs IMDS numbers wrongly for a while, in the simulated VPC with
 * ec2netd running as its unit runs it:
 * - UNMANAGED in ec2net.conf: on EKS nodes the VPC CNI owns the secondary ENIs, and an agent that touches them
 *   races it (the EKS AMI narrowed amazon-ec2-net-utils v2's catch-all file to the primary for this reason).
 * - An ENI that IMDS gives the device-number of another attached ENI: a freshly attached ENI's keys can answer
 *   another's values until they have propagated (DESIGN.md, "IMDS facts": device-number answers 0 for tens of
 *   seconds). ec2net refuses to share the table, changes nothing, and configures the ENI once the number settles.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Vpc, type EniSpec } from '../vpc/vpc.js';
import { ENI0, ENI1, ENI2, SUBNETS, addressesOf, agent, eventually, newRoot, reach, ruleLines, startDaemon, type RunningDaemon } from '../support/agent.js';

const REFRESH_SECONDS = 2;
/** In s2 with ENI1, attached while IMDS still answers ENI1's device-number for it. */
const ENI3: EniSpec = { id: 'eni-0000000000000c003', mac: '02:ec:00:00:02:03', ifname: 'eth3', subnet: 's2', deviceNumber: 3, ipv4s: ['10.0.2.33', '10.0.2.34'] };

describe('ENIs that are not ec2net’s, and ENIs numbered wrongly for a while, with ec2netd running', () => {
  let vpc: Vpc;
  let root: string;
  let daemon: RunningDaemon;

  const ours = async (table: number) => (await ruleLines(vpc)).filter((l) => l.endsWith(' proto 236') && l.includes(`lookup ${table} `));
  const linkUp = async (ifname: string) => (await vpc.exec('instance', ['ip', '-o', 'link', 'show', ifname])).stdout.includes(',UP');

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    await vpc.attach(ENI0);
    root = newRoot();
    mkdirSync(`${root}/etc/ec2net`, { recursive: true });
    writeFileSync(`${root}/etc/ec2net/ec2net.conf`, '# the VPC CNI owns device 2\nUNMANAGED="device-number=2"\n');
    daemon = startDaemon(vpc, root, { EC2NET_REFRESH_SECONDS: String(REFRESH_SECONDS) });
    await daemon.waitFor((r) => r.msg === 'ready', 60_000);
  });
  after(async () => {
    await daemon?.kill('SIGTERM');
    await vpc?.destroy();
  });

  test('UNMANAGED: the ENI it names gets no rule, file, DHCP or link change from ec2netd or ec2ifscan; the other is reachable', async () => {
    await vpc.attach(ENI1);
    await vpc.attach(ENI2);
    await eventually(async () => assert.deepEqual((await reach(vpc, addressesOf(ENI1))).failed, []), 30_000);
    await eventually(async () => assert.ok(daemon.records.some((r) => r.iface === 'eth2' && r.msg === 'leaving interface alone' && /UNMANAGED=device-number=2/.test(String(r.reason)))), 30_000);
    const scan = await agent(vpc, root, 'ec2ifscan');
    assert.equal(scan.code, 0, scan.stderr);
    // Three refresh periods later, still nothing of ours on eth2.
    await new Promise((r) => setTimeout(r, 3 * REFRESH_SECONDS * 1000));
    assert.deepEqual(await ours(10002), []);
    assert.equal(await linkUp('eth2'), false, 'eth2 is left as the attach left it');
    assert.equal((await vpc.exec('instance', ['ip', '-o', 'addr', 'show', 'dev', 'eth2'])).stdout.includes('inet '), false);
    assert.deepEqual((await reach(vpc, addressesOf(ENI2))).ok, [], "eth2's addresses are the other agent's to make work");
    const status = JSON.parse((await agent(vpc, root, 'ec2net', ['status', '--json'])).stdout) as { interfaces: { ifname: string; unmanaged?: string }[] };
    assert.equal(status.interfaces.find((i) => i.ifname === 'eth2')?.unmanaged, 'device-number=2');
    assert.equal(status.interfaces.find((i) => i.ifname === 'eth1')?.unmanaged, undefined);
    const text = (await agent(vpc, root, 'ec2net', ['status'])).stdout;
    assert.match(text, /eth2 .*UNMANAGED \(UNMANAGED=device-number=2 in ec2net\.conf\)/);
    const down = await agent(vpc, root, 'ec2ifdown', ['eth2']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, /UNMANAGED/);
  });

  test('IMDS gives a new ENI the device-number of an attached one: nothing of either changes; configured once it settles', async () => {
    await vpc.imds.setOverride(`network/interfaces/macs/${ENI3.mac}/device-number`, String(ENI1.deviceNumber));
    const rulesBefore = await ours(10001);
    await vpc.attach(ENI3);
    const refused = await daemon.waitFor((r) => r.iface === 'eth3' && r.kind === 'Conflict', 30_000);
    assert.match(String(refused.msg), new RegExp(`routing table 10001 belongs to ${ENI1.id} on eth1`));
    assert.deepEqual(await ours(10001), rulesBefore, "eth1's rules untouched");
    assert.deepEqual(await ours(10003), []);
    assert.deepEqual((await reach(vpc, addressesOf(ENI1))).failed, []);
    // Propagated: the daemon's retry (a short backoff: Conflict is retryable) configures it.
    const settled = Date.now();
    await vpc.imds.clearOverrides();
    await eventually(async () => assert.deepEqual((await reach(vpc, addressesOf(ENI3))).failed, []), 30_000);
    assert.ok(Date.now() - settled < 20_000, `reachable ${Date.now() - settled} ms after IMDS settled`);
    assert.equal((await ours(10003)).length, 2);
    assert.deepEqual((await reach(vpc, addressesOf(ENI1))).failed, []);
  });
});
