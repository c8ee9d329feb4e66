/**
 * The demo: a simulated VPC in network namespaces (real DHCPv4 and DHCPv6, router advertisements, IMDSv2, a
 * source/destination check for both families, a remote host), a dual-stack instance with three ENIs plus one in an
 * IPv6-only subnet, and ec2net configuring them. It prints which addresses the remote host can reach
 * before and after, the rules and routes ec2net installed, and the files it wrote. Exits 1 unless every address
 * ends up reachable. Run it through scripts/sandbox.ts (npm run demo, or scripts/demo.sh on a fresh machine).
 */
import { readFileSync } from 'node:fs';
import { Vpc, type EniSpec } from '../test/vpc/vpc.js';
import { ENI0, ENI1, ENI2, SUBNETS, addressesOf, agent, eventually, newRoot, reach, routeLines, ruleLines } from '../test/support/agent.js';

const DUAL = [
  { ...SUBNETS[0], ipv6Cidr: '2001:db8:1::/64' },
  { ...SUBNETS[1], ipv6Cidr: '2001:db8:2::/64' },
  { name: 'v6', ipv6Cidr: '2001:db8:3::/64' },
] as { name: string; cidr?: string; ipv6Cidr: string }[];
const ENIS: EniSpec[] = [
  { ...ENI0, ipv6s: ['2001:db8:1::10'] },
  { ...ENI1, ipv6s: ['2001:db8:2::10', '2001:db8:2::11'], ipv6Prefixes: ['2001:db8:2:0:1234::/80'] },
  { ...ENI2, ipv6s: ['2001:db8:1::20'] },
  // An IPv6-only subnet: IMDS gives the ENI one 169.254 address, which is neither routed nor reachable.
  { id: 'eni-0000000000000a003', mac: '02:ec:00:00:00:13', ifname: 'eth3', subnet: 'v6', deviceNumber: 3, ipv4s: ['169.254.0.13'], ipv6s: ['2001:db8:3::13'] },
];
/** The kernel solicits a router about a second after link up. */
const RA_WAIT_MS = 10_000;

function reachableAddresses(eni: EniSpec): string[] {
  return [...(eni.subnet === 'v6' ? [] : addressesOf(eni)), ...(eni.ipv6s ?? [])];
}

const out = (s = '') => process.stdout.write(`${s}\n`);

async function table(vpc: Vpc, title: string, addrs: string[]): Promise<number> {
  const r = await reach(vpc, addrs);
  out(`\n${title}`);
  for (const a of addrs) out(`  ${a.padEnd(16)} ${r.ok.includes(a) ? 'reachable' : 'NOT reachable'}`);
  return r.failed.length;
}

async function main(): Promise<number> {
  const vpc = await Vpc.create({ subnets: DUAL });
  try {
    out('Simulated VPC: subnets 10.0.1.0/24 + 2001:db8:1::/64, 10.0.2.0/24 + 2001:db8:2::/64, IPv6-only 2001:db8:3::/64;');
    out(`remote host ${vpc.remoteAddr} and ${vpc.remoteAddr6}; IMDSv2 at 169.254.169.254 and [fd00:ec2::254]`);
    for (const eni of ENIS) {
      await vpc.attach(eni);
      const pfx = [...(eni.ipv4Prefixes ?? []), ...(eni.ipv6Prefixes ?? [])];
      out(`attached ${eni.id} as ${eni.ifname} (device ${eni.deviceNumber}, subnet ${eni.subnet}): ${[...eni.ipv4s, ...(eni.ipv6s ?? [])].join(', ')}${pfx.length ? ` + prefixes ${pfx.join(', ')}` : ''}`);
    }
    // As at boot: the primary's IPv6 default route comes by router advertisement.
    await eventually(async () => {
      const r = await vpc.exec('instance', ['ip', '-6', 'route', 'show', 'default', 'dev', 'eth0']);
      if (r.stdout.trim() === '') throw new Error('no router advertisement on eth0 yet');
    }, RA_WAIT_MS);
    const root = newRoot();
    const all = ENIS.flatMap(reachableAddresses);
    await table(vpc, 'Before ec2net (only the primary ENI is configured, as at boot):', all);

    out('\n$ ec2ifscan');
    const scan = await agent(vpc, root, 'ec2ifscan');
    process.stdout.write(scan.stderr.replace(/^/gm, '  '));
    if (scan.code !== 0) return 1;

    const failed = await table(vpc, 'After ec2ifscan (TCP from the remote host):', all);
    out('\nPolicy rules installed by ec2net (protocol 236):');
    for (const l of (await ruleLines(vpc)).filter((l) => l.endsWith('proto 236'))) out(`  ${l}`);
    const rules6 = await vpc.exec('instance', ['ip', '-6', 'rule', 'show', 'proto', '236']);
    for (const l of rules6.stdout.split('\n').filter((x) => x.trim() !== '')) out(`  ${l.replace(/\s+/g, ' ')}`);
    out('\nRoutes installed by ec2net:');
    for (const l of (await routeLines(vpc)).filter((l) => l.endsWith('proto 236'))) out(`  ${l}`);
    const routes6 = await vpc.exec('instance', ['ip', '-6', 'route', 'show', 'table', 'all', 'proto', '236']);
    for (const l of routes6.stdout.split('\n').filter((x) => x.trim() !== '')) out(`  ${l.replace(/\s+/g, ' ')}`);
    for (const f of ['etc/sysconfig/network-scripts/ifcfg-eth1', 'etc/sysconfig/network-scripts/route-eth1', 'etc/sysconfig/network-scripts/route6-eth1', 'etc/dhcp/dhclient-eth1.conf']) {
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
