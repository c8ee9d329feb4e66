/**
 * Commands are gentle with IMDS: AWS throttles IMDS per instance and limits the connections an instance may hold
 * to it ("Instance metadata service limits": requests are throttled per instance, and a burst of new connections
 * is where a small server backlog first drops SYNs). A command holds at most four connections at once and keeps
 * them for its whole run. The IMDS emulator counts client connections from accept to the client's FIN.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Vpc, type EniSpec } from '../vpc/vpc.js';
import { ENI0, agent, newRoot, reach, succeeded } from '../support/agent.js';

/** The most IMDS connections a command holds at once (src/cli/common.ts). */
const MAX_CONNECTIONS = 4;

function eni(i: number): EniSpec {
  return {
    id: `eni-0000000000000c${String(i).padStart(3, '0')}`,
    mac: `02:ec:00:00:0c:${i.toString(16).padStart(2, '0')}`,
    ifname: `eth${i}`,
    subnet: `t${i}`,
    deviceNumber: i,
    ipv4s: Array.from({ length: 5 }, (_, k) => `10.1.${i}.${10 + k}`),
  };
}

describe('IMDS connections of the commands', () => {
  const enis = Array.from({ length: 6 }, (_, i) => eni(i + 1));
  let vpc: Vpc;
  const root = newRoot();

  before(async () => {
    vpc = await Vpc.create({ subnets: [{ name: 's1', cidr: '10.0.1.0/24' }, ...enis.map((e, i) => ({ name: e.subnet, cidr: `10.1.${i + 1}.0/24` }))] });
    await vpc.attach(ENI0);
    for (const e of enis) await vpc.attach(e);
  });
  after(() => vpc?.destroy());

  async function connectionsOf(command: 'ec2ifup' | 'ec2ifscan', args: string[] = []) {
    await vpc.imds.resetConnections();
    succeeded(await agent(vpc, root, command, args), command);
    return vpc.imds.connections();
  }

  test('ec2ifscan over six ENIs, first with DHCP, then again with every source rule in place: never more than four at once', async () => {
    const cold = await connectionsOf('ec2ifscan');
    assert.ok(cold.peak <= MAX_CONNECTIONS, `cold scan held ${cold.peak} at once (${cold.total} in all)`);
    const all = enis.flatMap((e) => e.ipv4s);
    assert.deepEqual((await reach(vpc, all)).failed, []);
    // Now each ENI is asked through its own source address: connections of different local addresses share the cap.
    const warm = await connectionsOf('ec2ifscan');
    assert.ok(warm.peak <= MAX_CONNECTIONS, `second scan held ${warm.peak} at once (${warm.total} in all)`);
    assert.deepEqual((await reach(vpc, all)).failed, []);
  });

  test('ec2ifup keeps its connections for the whole run: at most four made, where it once made one per request', async () => {
    const log = await vpc.imds.requests();
    await vpc.imds.clearLog();
    const c = await connectionsOf('ec2ifup', ['eth3']);
    const requests = (await vpc.imds.requests()).length;
    assert.ok(requests >= 10, `ec2ifup sent ${requests} requests (log before: ${log.length})`);
    assert.ok(c.peak <= MAX_CONNECTIONS, `held ${c.peak} at once`);
    assert.ok(c.total <= MAX_CONNECTIONS, `made ${c.total} connections for ${requests} requests`);
  });
});
