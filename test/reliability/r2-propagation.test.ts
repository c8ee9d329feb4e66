/**
 * R2: propagation delay. Just after attach, IMDS answers `device-number` 0 and 404 for the ENI's own keys for
 * 5 s, as EC2 does while an attachment propagates. Tables and priorities must come out right (never table 10000,
 * the primary's), with no collision and nothing half-configured in the meantime — through the daemon's hotplug
 * path and through ec2ifup.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Vpc, type EniSpec } from '../vpc/vpc.js';
import { ENI0, SUBNETS, agent, eventually, newRoot, reach, ruleLines, startDaemon, type RunningDaemon } from '../support/agent.js';
import { report } from '../support/figures.js';

const PROPAGATION_MS = 5_000;
const ENI3: EniSpec = { id: 'eni-0000000000000c003', mac: '02:ec:00:00:02:03', ifname: 'eth3', subnet: 's2', deviceNumber: 3, ipv4s: ['10.0.2.53', '10.0.2.54'] };
const ENI4: EniSpec = { id: 'eni-0000000000000c004', mac: '02:ec:00:00:02:04', ifname: 'eth4', subnet: 's1', deviceNumber: 4, ipv4s: ['10.0.1.64', '10.0.1.65'] };

async function unpropagated(vpc: Vpc, eni: EniSpec): Promise<void> {
  const base = `network/interfaces/macs/${eni.mac}/`;
  await vpc.imds.setOverride(`${base}device-number`, '0');
  for (const key of ['local-ipv4s', 'interface-id', 'subnet-ipv4-cidr-block']) await vpc.imds.setOverride(base + key, null);
}

describe('R2 propagation delay after attach', () => {
  let vpc: Vpc;
  let root: string;
  let daemon: RunningDaemon;
  const figures: Record<string, number> = {};

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    await vpc.attach(ENI0);
    root = newRoot();
  });
  after(async () => {
    await daemon?.kill('SIGTERM');
    await vpc?.destroy();
  });

  const neverPrimaryTable = async (eni: EniSpec) => {
    const rules = await ruleLines(vpc);
    assert.ok(!rules.some((l) => l.includes('lookup 10000 ')), `a rule in the primary's table: ${rules.join(' | ')}`);
    assert.ok(!rules.some((l) => eni.ipv4s.some((ip) => l.includes(`from ${ip}/`)) && !l.includes(`lookup ${10000 + eni.deviceNumber} `)));
  };

  test('ec2ifup waits the propagation out and configures table 10004', async () => {
    await unpropagated(vpc, ENI4);
    await vpc.attach(ENI4);
    const started = Date.now();
    const run = agent(vpc, root, 'ec2ifup', ['eth4']);
    while (Date.now() - started < PROPAGATION_MS) {
      await neverPrimaryTable(ENI4);
      assert.ok(!existsSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth4`), 'no file written before IMDS settled');
      await new Promise((r) => setTimeout(r, 250));
    }
    await vpc.imds.clearOverrides();
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    figures.ec2ifupMs = Date.now() - started;
    assert.deepEqual((await ruleLines(vpc)).filter((l) => l.includes('lookup 10004 ')), ['10004 from 10.0.1.64/32 lookup 10004 proto 236', '10004 from 10.0.1.65/32 lookup 10004 proto 236']);
    assert.match(readFileSync(`${root}/etc/sysconfig/network-scripts/route-eth4`, 'utf8'), /table 10004\n/);
    assert.deepEqual((await reach(vpc, ENI4.ipv4s)).failed, []);
  });

  test('the daemon hotplugs through the same delay into table 10003, with no collision', async () => {
    daemon = startDaemon(vpc, root, { EC2NET_REFRESH_SECONDS: '2' });
    await daemon.waitFor((r) => r.msg === 'ready', 60_000);
    await unpropagated(vpc, ENI3);
    await vpc.attach(ENI3);
    const started = Date.now();
    while (Date.now() - started < PROPAGATION_MS) {
      await neverPrimaryTable(ENI3);
      await neverPrimaryTable(ENI4);
      assert.ok(!existsSync(`${root}/etc/sysconfig/network-scripts/ifcfg-eth3`), 'nothing half-configured');
      await new Promise((r) => setTimeout(r, 250));
    }
    await vpc.imds.clearOverrides();
    await eventually(async () => assert.deepEqual((await reach(vpc, [...ENI3.ipv4s, ...ENI4.ipv4s])).failed, []), 40_000);
    figures.daemonMs = Date.now() - started;
    const rules = await ruleLines(vpc);
    assert.deepEqual(rules.filter((l) => l.includes('lookup 10003 ')), ['10003 from 10.0.2.53/32 lookup 10003 proto 236', '10003 from 10.0.2.54/32 lookup 10003 proto 236']);
    assert.equal(rules.filter((l) => l.includes('lookup 10004 ')).length, 2);
    assert.equal(new Set(rules).size, rules.length);
    report({
      id: 'R2',
      title: 'propagation delay (device-number 0, 404s)',
      outcome: 'held',
      figures: { propagationSeconds: PROPAGATION_MS / 1000, ec2ifupConvergedMs: figures.ec2ifupMs ?? -1, daemonConvergedMs: figures.daemonMs, primaryTableRules: 0, collisions: 0 },
    });
  });
});
