import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, waitFor } from './proc.js';

const START_TIMEOUT_MS = 5_000;
const RELOAD_TIMEOUT_MS = 5_000;
/** EC2's DHCP server hands out jumbo frames. */
const EC2_MTU = 9001;

export interface DhcpSubnet {
  tag: string;
  bridge: string;
  network: string;
  netmask: string;
  router: string;
}

/** DHCP-only dnsmasq (no DNS) serving static MAC → IP bindings on the subnet bridges of the VPC namespace. */
export class Dnsmasq {
  private reloads = 0;
  private daemon: Daemon | undefined;

  private constructor(private readonly hostsFile: string) {}

  static async start(netns: string, dir: string, subnets: readonly DhcpSubnet[]): Promise<Dnsmasq> {
    const dnsmasq = new Dnsmasq(join(dir, 'dhcp-hosts'));
    writeFileSync(dnsmasq.hostsFile, '');
    const argv = [
      'ip', 'netns', 'exec', netns, 'dnsmasq',
      '--keep-in-foreground', '--log-facility=-', '--port=0', '--conf-file=/dev/null', '--no-hosts', '--no-resolv',
      '--user=root', '--dhcp-authoritative', '--except-interface=lo',
      // A unicast reply makes dnsmasq inject an ARP entry for the client, which demotes the router's permanent
      // neighbour for that address to a dynamic one; broadcast replies leave the router's table alone.
      '--dhcp-broadcast',
      `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
      `--dhcp-hostsfile=${dnsmasq.hostsFile}`,
      `--dhcp-option-force=option:mtu,${EC2_MTU}`,
    ];
    for (const s of subnets) {
      argv.push(
        `--interface=${s.bridge}`,
        `--dhcp-range=set:${s.tag},${s.network},static,${s.netmask},1h`,
        `--dhcp-option=tag:${s.tag},option:router,${s.router}`,
      );
    }
    const onLine = (line: string): void => {
      if (line.includes(`read ${dnsmasq.hostsFile}`)) dnsmasq.reloads++;
    };
    dnsmasq.daemon = await Daemon.start('dnsmasq', argv, () => dnsmasq.reloads > 0, START_TIMEOUT_MS, { onLine });
    return dnsmasq;
  }

  get pid(): number | undefined {
    return this.daemon?.pid;
  }

  /** Rewrites the MAC → IP bindings and waits until dnsmasq has re-read them. */
  async setBindings(bindings: ReadonlyMap<string, string>): Promise<void> {
    const daemon = this.daemon;
    if (!daemon) throw new Error('dnsmasq is not running');
    writeFileSync(this.hostsFile, [...bindings].map(([mac, ip]) => `${mac},${ip}\n`).join(''));
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
