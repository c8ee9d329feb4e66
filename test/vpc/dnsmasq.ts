import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, waitFor } from './proc.js';

const START_TIMEOUT_MS = 5_000;
const RELOAD_TIMEOUT_MS = 5_000;
/** EC2's DHCP server hands out jumbo frames. */
const EC2_MTU = 9001;
/**
 * dnsmasq answers a router solicitation at once (measured: a few ms), so a link that comes up has its router as
 * soon as its link-local address has passed DAD. This interval (RFC 4861's floor) governs only the unsolicited
 * advertisements, and only from a minute after start-up or a change: before that dnsmasq spaces them 5–20 s apart.
 */
const RA_INTERVAL_S = 4;
const RA_ROUTER_LIFETIME_S = 1800;

export interface DhcpSubnet {
  tag: string;
  bridge: string;
  /** Absent in an IPv6-only subnet. */
  ipv4?: { network: string; netmask: string; router: string };
  /** Absent in an IPv4-only subnet. */
  ipv6?: { network: string; prefixLen: number };
}

/** What DHCP hands one MAC: DHCPv4 its primary IPv4, DHCPv6 its first IPv6. */
export interface DhcpBinding {
  ipv4?: string;
  ipv6?: string;
}

/**
 * dnsmasq's command line: DHCP only (no DNS) on the subnet bridges; in IPv6 subnets also router advertisements
 * with the M flag (addresses come from DHCPv6, not SLAAC) and the prefix on-link.
 */
/** DHCPv4 renewal time (T1) and the interval between unsolicited router advertisements, when a test sets them. */
export interface DnsmasqTimes {
  readonly renewSeconds?: number;
  readonly raIntervalSeconds?: number;
}

export function dnsmasqArgs(dir: string, hostsFile: string, subnets: readonly DhcpSubnet[], times: DnsmasqTimes = {}): string[] {
  const { renewSeconds } = times;
  const argv = [
    '--keep-in-foreground', '--log-facility=-', '--port=0', '--conf-file=/dev/null', '--no-hosts', '--no-resolv',
    '--user=root', '--dhcp-authoritative', '--except-interface=lo',
    // A unicast reply makes dnsmasq inject an ARP entry for the client, which demotes the router's permanent
    // neighbour for that address to a dynamic one; broadcast replies leave the router's table alone.
    '--dhcp-broadcast',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
    `--dhcp-hostsfile=${hostsFile}`,
    `--dhcp-option-force=option:mtu,${EC2_MTU}`,
  ];
  // The lease stays an hour; only its renewal time (T1, RFC 2131 option 58) comes early, so a test sees a renewal.
  if (renewSeconds !== undefined) argv.push(`--dhcp-option-force=option:T1,${renewSeconds}`);
  if (subnets.some((s) => s.ipv6)) argv.push('--enable-ra');
  for (const s of subnets) {
    argv.push(`--interface=${s.bridge}`);
    if (s.ipv4) {
      argv.push(
        `--dhcp-range=set:${s.tag},${s.ipv4.network},static,${s.ipv4.netmask},1h`,
        `--dhcp-option=tag:${s.tag},option:router,${s.ipv4.router}`,
      );
    }
    if (s.ipv6) {
      argv.push(
        // `static`: only bound MACs get an address; no SLAAC, so the RA carries M and not A
        `--dhcp-range=set:${s.tag},${s.ipv6.network},static,${s.ipv6.prefixLen},1h`,
        `--ra-param=${s.bridge},${times.raIntervalSeconds ?? RA_INTERVAL_S},${RA_ROUTER_LIFETIME_S}`,
      );
    }
  }
  return argv;
}

/** dhcp-hostsfile lines: `MAC,IPV4,[IPV6]`, either address optional. */
export function hostsFileContent(bindings: ReadonlyMap<string, DhcpBinding>): string {
  return [...bindings]
    .filter(([, b]) => b.ipv4 !== undefined || b.ipv6 !== undefined)
    .map(([mac, b]) => `${[mac, ...(b.ipv4 === undefined ? [] : [b.ipv4]), ...(b.ipv6 === undefined ? [] : [`[${b.ipv6}]`])].join(',')}\n`)
    .join('');
}

/** DHCP-only dnsmasq (no DNS) serving static MAC → IP bindings on the subnet bridges of the VPC namespace. */
export class Dnsmasq {
  private reloads = 0;
  private daemon: Daemon | undefined;

  private constructor(private readonly hostsFile: string) {}

  static async start(netns: string, dir: string, subnets: readonly DhcpSubnet[], times: DnsmasqTimes = {}): Promise<Dnsmasq> {
    const dnsmasq = new Dnsmasq(join(dir, 'dhcp-hosts'));
    writeFileSync(dnsmasq.hostsFile, '');
    const argv = ['ip', 'netns', 'exec', netns, 'dnsmasq', ...dnsmasqArgs(dir, dnsmasq.hostsFile, subnets, times)];
    const onLine = (line: string): void => {
      if (line.includes(`read ${dnsmasq.hostsFile}`)) dnsmasq.reloads++;
    };
    dnsmasq.daemon = await Daemon.start('dnsmasq', argv, () => dnsmasq.reloads > 0, START_TIMEOUT_MS, { onLine });
    return dnsmasq;
  }

  get pid(): number | undefined {
    return this.daemon?.pid;
  }

  /** dnsmasq's output so far (the tail): DHCP and router-advertisement traffic, for diagnosing a test. */
  get log(): string {
    return this.daemon?.log ?? '';
  }

  /** Rewrites the MAC → address bindings and waits until dnsmasq has re-read them. */
  async setBindings(bindings: ReadonlyMap<string, DhcpBinding>): Promise<void> {
    const daemon = this.daemon;
    if (!daemon) throw new Error('dnsmasq is not running');
    writeFileSync(this.hostsFile, hostsFileContent(bindings));
    const before = this.reloads;
    daemon.signal('SIGHUP');
    await waitFor('dnsmasq to re-read its hosts file', () => {
      if (daemon.exited) throw new Error(`dnsmasq exited: ${daemon.log.trim()}`);
      return this.reloads > before;
    }, RELOAD_TIMEOUT_MS);
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
    this.daemon = undefined;
  }
}
