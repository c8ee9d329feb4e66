/**
 * The demo: a simulated VPC in network namespaces (real DHCP, IMDSv2, a source/destination check, a remote host),
 * an instance with three ENIs, and ec2net configuring them. It prints which addresses the remote host can reach
 * before and after, the rules and routes ec2net installed, and the files it wrote. Exits 1 unless every address
 * ends up reachable. Run it through scripts/sandbox.ts (npm run demo, or scripts/demo.sh on a fresh machine).
 */
import { readFileSync } from 'node:fs';
import { Vpc } from '../test/vpc/vpc.js';
import { ENI0, ENI1, ENI2, SUBNETS, addressesOf, agent, newRoot, reach, routeLines, ruleLines } from '../test/support/agent.js';

const out = (s = '') => process.stdout.write(`${s}\n`);

async function table(vpc: Vpc, title: string, addrs: string[]): Promise<number> {
  const r = await reach(vpc, addrs);
  out(`\n${title}`);
  for (const a of addrs) out(`  ${a.padEnd(14)} ${r.ok.includes(a) ? 'reachable' : 'NOT reachable'}`);
  return r.failed.length;
}

async function main(): Promise<number> {
  const vpc = await Vpc.create({ subnets: SUBNETS });
  try {
    out('Simulated VPC: subnets 10.0.1.0/24 and 10.0.2.0/24, remote host 198.51.100.10, IMDSv2 at 169.254.169.254');
    for (const eni of [ENI0, ENI1, ENI2]) {
      await vpc.attach(eni);
      const pfx = eni.ipv4Prefixes?.length ? ` + prefix ${eni.ipv4Prefixes.join(', ')}` : '';
      out(`attached ${eni.id} as ${eni.ifname} (device ${eni.deviceNumber}, subnet ${eni.subnet}): ${eni.ipv4s.join(', ')}${pfx}`);
    }
    const root = newRoot();
    const all = [...addressesOf(ENI0), ...addressesOf(ENI1), ...addressesOf(ENI2)];
    await table(vpc, 'Before ec2net (only the primary ENI is configured, as at boot):', all);

    out('\n$ ec2ifscan');
    const scan = await agent(vpc, root, 'ec2ifscan');
    process.stdout.write(scan.stderr.replace(/^/gm, '  '));
    if (scan.code !== 0) return 1;

    const failed = await table(vpc, 'After ec2ifscan (TCP from the remote host):', all);
    out('\nPolicy rules installed by ec2net (protocol 236):');
    for (const l of (await ruleLines(vpc)).filter((l) => l.endsWith('proto 236'))) out(`  ${l}`);
    out('\nRoutes installed by ec2net:');
    for (const l of (await routeLines(vpc)).filter((l) => l.endsWith('proto 236'))) out(`  ${l}`);
    for (const f of ['etc/sysconfig/network-scripts/ifcfg-eth1', 'etc/sysconfig/network-scripts/route-eth1', 'etc/dhcp/dhclient-eth1.conf']) {
      out(`\n/${f}:`);
      out(readFileSync(`${root}/${f}`, 'utf8').replace(/^/gm, '  ').trimEnd());
    }
    out(failed === 0 ? `\nAll ${all.length} addresses reachable.` : `\n${failed} address(es) NOT reachable.`);
    return failed === 0 ? 0 : 1;
  } finally {
    await vpc.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
