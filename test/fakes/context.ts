/**
 * An AgentContext over fakes: FakeKernel, FakeImds, a fake clock, and an activator that plays DHCP by putting
 * the leased address on the interface. Files go to a temporary root, as EC2NET_ROOT does for the CLI.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AgentContext } from '../../src/agent/context.js';
import { EC2NET_PROTOCOL, pathsFor, type Config } from '../../src/config.js';
import { ImdsClient } from '../../src/imds/client.js';
import type { Activator } from '../../src/ports/activation.js';
import { ifcfgBackend } from '../../src/backends/ifcfg.js';
import { FakeKernel } from './kernel.js';
import { FakeImds, fakeClock } from './imds.js';

export class FakeDhcp implements Activator {
  readonly kind = 'dhclient' as const;
  /** ifname → the address DHCP hands out, with prefix length. */
  leases = new Map<string, string>();
  running = new Set<string>();
  constructor(private readonly kernel: FakeKernel) {}
  async up(ifname: string) {
    this.running.add(ifname);
    const lease = this.leases.get(ifname);
    if (lease) await this.kernel.addAddress({ family: 4, dev: ifname, address: lease });
  }
  async isRunning(ifname: string) {
    return this.running.has(ifname);
  }
  async forget(ifname: string) {
    this.running.delete(ifname);
  }
  async down(ifname: string) {
    this.running.delete(ifname);
    const lease = this.leases.get(ifname);
    if (lease) await this.kernel.delAddress({ family: 4, dev: ifname, address: lease });
  }
}

export function fakeContext(kernel: FakeKernel, imds: FakeImds, opts: { root?: string; primaryRules?: boolean; setHostname?: boolean } = {}) {
  // Shaped like Amazon Linux 2's: initscripts' ifcfg directory exists, so the ifcfg backend writes its files.
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'ec2net-unit-'));
  if (opts.root === undefined) mkdirSync(pathsFor(root).networkScripts, { recursive: true });
  const clock = fakeClock();
  kernel.sleep = clock.sleep;
  const dhcp = new FakeDhcp(kernel);
  const paths = pathsFor(root);
  const config: Config = { settings: { protocol: EC2NET_PROTOCOL, primaryRules: opts.primaryRules ?? false }, activation: 'dhclient', setHostname: opts.setHostname ?? false, backend: 'ifcfg', provisionPrefixIps: false, mainRouteTable: true, unmanaged: [] };
  const ctx: AgentContext = {
    paths,
    config,
    kernel,
    clock,
    log: pino({ level: 'silent' }),
    backend: ifcfgBackend(paths, config, dhcp),
    imds: (localAddress) => new ImdsClient({ transport: imds.transport, clock, endpoints: ['http://imds'], ...(localAddress ? { localAddress } : {}) }),
    close: () => undefined,
  };
  return { ctx, root, clock, dhcp };
}
