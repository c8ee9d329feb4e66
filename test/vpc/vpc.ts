/**
 * A simulated VPC in network namespaces, for tests that run inside scripts/sandbox.ts.
 *
 *   remote ns (198.51.100.10,  ── rt0 ── vpc ns (router: one bridge per subnet, IMDS on 169.254.169.254 and
 *              2001:db8:ffff::10)          [fd00:ec2::254], dnsmasq with DHCPv4, DHCPv6 and router advertisements,
 *                                          source/destination check) ── one veth per ENI ── instance ns
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  contains, contains6, covers6, formatIpv4, formatIpv6, isIpv4, isIpv6, linkLocal, netmask, parseCidr, parseCidr6, parseIpv6,
  subnetRouter, subnetRouter6, type Ipv4Cidr, type Ipv6Cidr,
} from './addr.js';
import { Dnsmasq, type DhcpBinding } from './dnsmasq.js';
import { assertSandboxed, NETNS_RUN_DIR } from './guard.js';
import { ImdsControl } from './imds-control.js';
import { emptyState, type ImdsState } from './imds-model.js';
import { Daemon, KILL_GRACE_MS, must, pidsInNetns, run, waitFor, type RunOptions, type RunResult } from './proc.js';
import { baseRuleset, counterQuery, parseCounterPackets, portRuleset, removePortRuleset } from './source-check.js';

export type { Fault, RequestLogEntry } from './imds-model.js';
export type { RunOptions, RunResult } from './proc.js';

/** At least one of `cidr` and `ipv6Cidr`; a subnet with only `ipv6Cidr` is IPv6-only. */
export interface SubnetSpec {
  name: string;
  cidr?: string;
  /** A /64, e.g. `2001:db8:1::/64`. */
  ipv6Cidr?: string;
  /** IMDS `subnet-id`; generated when omitted. */
  id?: string;
}

export interface EniSpec {
  id: string;
  mac: string;
  ifname: string;
  /** SubnetSpec.name */
  subnet: string;
  deviceNumber: number;
  networkCard?: number;
  /** Primary first. In an IPv6-only subnet none, or one address from 169.254.0.0/16, neither routed nor DHCP-served. */
  ipv4s: string[];
  /**
   * The primary ENI only: the metric the image's network config gives its main-table routes (default and subnet).
   * 0 when absent (dhclient-script, ifupdown); systemd.network(5) gives DHCPv4 routes 1024 unless RouteMetric= says
   * otherwise (Amazon Linux 2023's catch-all file does not); netplan writes RouteMetric=100.
   */
  routeMetric?: number;
  ipv4Prefixes?: string[];
  /** RFC 5952 text; the first one is what DHCPv6 hands out. */
  ipv6s?: string[];
  /** Delegated IPv6 prefixes, normally /80s inside the subnet's /64. */
  ipv6Prefixes?: string[];
}

export interface VpcOptions {
  subnets: SubnetSpec[];
  instanceId?: string;
  /** Multi-card instance types: IMDS then answers `network-card` for every ENI. */
  multiCard?: boolean;
  vpcCidr?: string;
  vpcId?: string;
  /** Port of the TCP listener in the instance namespace. */
  echoPort?: number;
  /** DHCPv4 renewal time (T1) in seconds; by default half the hour-long lease, as DHCP servers do. */
  dhcpRenewSeconds?: number;
  /**
   * Seconds between unsolicited router advertisements (4 by default, so that tests see RAs soon). RFC 4861 allows
   * up to 1800 (MaxRtrAdvInterval); a network that advertises rarely leaves a route learned from the last RA as
   * it was for that long.
   */
  raIntervalSeconds?: number;
}

export type NsRole = 'instance' | 'vpc' | 'remote';

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface HttpAnswer {
  /** 0 when no answer came (connection reset or refused, timeout). */
  status: number;
  body: string;
  error?: string;
}

export interface ReachOptions {
  port?: number;
  timeoutMs?: number;
}

/** The test-facing part of the IMDS emulator's control; the VPC itself owns the metadata state. */
export type ImdsDriver = Omit<ImdsControl, 'setState'>;

interface Subnet {
  readonly name: string;
  readonly id: string;
  readonly bridge: string;
  /** Absent in an IPv6-only subnet. */
  readonly v4?: { readonly text: string; readonly cidr: Ipv4Cidr; readonly router: string };
  readonly v6?: { readonly text: string; readonly cidr: Ipv6Cidr; readonly router: string };
  /** The bridge's link-local address: the source of router advertisements, the instance's IPv6 gateway. */
  readonly linkLocal: string;
}

/** How the router delivers to one ENI: permanent neighbours (by the ENI's MAC) and routes via the ENI. */
interface Delivery {
  neighbours: string[];
  routes: Array<{ prefix: string; via: string }>;
}

interface Eni {
  readonly spec: EniSpec;
  readonly mac: string;
  readonly subnet: Subnet;
  readonly index: number;
  /** This ENI's bridge port in the VPC namespace. */
  readonly port: string;
  ipv4s: string[];
  prefixes: string[];
  ipv6s: string[];
  ipv6Prefixes: string[];
  /** What the router was last told, so a change applies only the difference. */
  routed: Delivery;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const IMDS_EMULATOR = join(HERE, 'imds-emulator.js');
const TCP_ECHO = join(HERE, 'tcp-echo.js');
const PROBE = join(HERE, 'probe.js');
const HTTP_REQUEST = join(HERE, 'http-request.js');
/** Shell script, not compiled: lives in the source tree next to this file's source. */
export const DHCLIENT_SCRIPT = join(HERE, '../../../test/vpc/dhclient-script');

export const IMDS_ADDR = '169.254.169.254';
export const IMDS_ADDR6 = 'fd00:ec2::254';
const IMDS_PORT = 80;
const REMOTE_ADDR = '198.51.100.10';
const REMOTE_ROUTER = '198.51.100.1';
const REMOTE_PREFIX_LEN = 24;
const REMOTE_ADDR6 = '2001:db8:ffff::10';
const REMOTE_ROUTER6 = '2001:db8:ffff::1';
const REMOTE_PREFIX_LEN6 = 64;
/** EC2 gives an ENI in an IPv6-only subnet one IPv4 address from here, for IMDS's `local-ipv4s` only. */
const IPV6_ONLY_IPV4 = parseCidr('169.254.0.0/16');
const IPV6_SUBNET_PREFIX_LEN = 64;
const DEFAULT_ECHO_PORT = 7;
/** EC2 ENIs run jumbo frames inside the VPC. */
const VPC_MTU = 9001;
const DAEMON_START_TIMEOUT_MS = 5_000;
const PROBE_TIMEOUT_MS = 2_000;
const HTTP_TIMEOUT_MS = 5_000;
/** Start-up of a node child on top of its own timeout. */
const NODE_SLACK_MS = 5_000;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Addresses are compared as strings (IMDS, nft, `ip` output), so only the canonical spelling is accepted. */
function canonical6(text: string): boolean {
  return isIpv6(text) && formatIpv6(parseIpv6(text)) === text;
}

/** The router's delivery for an ENI's addresses; the 169.254 address of an IPv6-only subnet is not routed. */
function delivery(subnet: Subnet, mac: string, a: { ipv4s: string[]; prefixes: string[]; ipv6s: string[]; ipv6Prefixes: string[] }): Delivery {
  const ll = linkLocal(mac);
  const primary = a.ipv4s[0];
  return {
    neighbours: [...(subnet.v4 ? a.ipv4s : []), ...a.ipv6s, ...(a.ipv6Prefixes.length > 0 ? [ll] : [])],
    routes: [
      ...(primary === undefined || !subnet.v4 ? [] : a.prefixes.map((prefix) => ({ prefix, via: primary }))),
      ...a.ipv6Prefixes.map((prefix) => ({ prefix, via: ll })),
    ],
  };
}

/** Blocks or unblocks the IPv4 IMDS endpoint in the VPC namespace: dropped, as if nothing were there. */
function imdsV4Ruleset(blocked: boolean): string {
  return [
    'add table inet imds',
    'add chain inet imds input { type filter hook input priority filter; policy accept; }',
    'flush chain inet imds input',
    ...(blocked ? [`add rule inet imds input ip daddr ${IMDS_ADDR} drop`] : []),
  ].join('\n') + '\n';
}

/** Fixed, so that each bridge's link-local address (the IPv6 gateway) is known in advance. */
function bridgeMac(index: number): string {
  return `02:e2:0e:00:00:${(index + 1).toString(16).padStart(2, '0')}`;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const live = new Set<Vpc>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const vpc of live) vpc.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      for (const vpc of live) vpc.destroySync();
      // Re-raise for the default action unless someone else handles this signal.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

export class Vpc {
  private static created = 0;

  readonly prefix: string;
  readonly instanceNs: string;
  readonly vpcNs: string;
  readonly remoteNs: string;
  readonly remoteAddr = REMOTE_ADDR;
  readonly remoteAddr6 = REMOTE_ADDR6;
  readonly tmpDir: string;
  readonly imdsUrl = `http://${IMDS_ADDR}`;
  readonly imdsUrl6 = `http://[${IMDS_ADDR6}]`;
  readonly echoPort: number;
  readonly imds: ImdsDriver;

  private readonly control: ImdsControl;
  private readonly subnets = new Map<string, Subnet>();
  private readonly enis = new Map<string, Eni>();
  private readonly daemons: Daemon[] = [];
  private readonly nsInodes = new Set<number>();
  private dnsmasq: Dnsmasq | undefined;
  private eniCount = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private destroying: Promise<void> | undefined;

  private constructor(private readonly opts: VpcOptions) {
    this.prefix = `e2n-${process.pid}-${Vpc.created++}`;
    this.instanceNs = `${this.prefix}-i`;
    this.vpcNs = `${this.prefix}-v`;
    this.remoteNs = `${this.prefix}-r`;
    this.echoPort = opts.echoPort ?? DEFAULT_ECHO_PORT;
    opts.subnets.forEach((s, i) => {
      if (this.subnets.has(s.name)) throw new Error(`duplicate subnet name ${s.name}`);
      if (s.cidr === undefined && s.ipv6Cidr === undefined) throw new Error(`subnet ${s.name} needs cidr, ipv6Cidr or both`);
      const cidr = s.cidr === undefined ? undefined : parseCidr(s.cidr);
      const cidr6 = s.ipv6Cidr === undefined ? undefined : parseCidr6(s.ipv6Cidr);
      if (cidr6 && cidr6.prefixLen !== IPV6_SUBNET_PREFIX_LEN) throw new Error(`subnet ${s.name}: an IPv6 subnet is a /64, not ${s.ipv6Cidr}`);
      this.subnets.set(s.name, {
        name: s.name,
        id: s.id ?? `subnet-${(i + 1).toString(16).padStart(17, '0')}`,
        bridge: `br${i}`,
        ...(s.cidr && cidr ? { v4: { text: s.cidr, cidr, router: subnetRouter(cidr) } } : {}),
        ...(s.ipv6Cidr && cidr6 ? { v6: { text: s.ipv6Cidr, cidr: cidr6, router: subnetRouter6(cidr6) } } : {}),
        linkLocal: linkLocal(bridgeMac(i)),
      });
    });
    this.tmpDir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
    this.control = new ImdsControl(this.controlSocket());
    this.imds = this.control;
  }

  static async create(opts: VpcOptions): Promise<Vpc> {
    assertSandboxed();
    installExitHooks();
    const vpc = new Vpc(opts);
    live.add(vpc);
    try {
      await vpc.setUp();
    } catch (err) {
      await vpc.destroy();
      throw err;
    }
    return vpc;
  }

  private controlSocket(): string {
    return join(this.tmpDir, 'imds.sock');
  }

  private ns(role: NsRole): string {
    return { instance: this.instanceNs, vpc: this.vpcNs, remote: this.remoteNs }[role];
  }

  private async ipBatch(role: NsRole, commands: readonly string[]): Promise<void> {
    if (commands.length > 0) await must(['ip', '-n', this.ns(role), '-batch', '-'], { input: `${commands.join('\n')}\n` });
  }

  private async sysctl(role: NsRole, settings: Record<string, string | number>): Promise<void> {
    await must(['ip', 'netns', 'exec', this.ns(role), 'sysctl', '-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
  }

  private async nft(script: string): Promise<void> {
    await must(['ip', 'netns', 'exec', this.vpcNs, 'nft', '-f', '-'], { input: script });
  }

  private async setUp(): Promise<void> {
    for (const role of ['vpc', 'instance', 'remote'] as const) {
      await must(['ip', 'netns', 'add', this.ns(role)]);
      this.nsInodes.add(statSync(join(NETNS_RUN_DIR, this.ns(role))).ino);
    }
    await this.sysctl('vpc', {
      'net.ipv4.ip_forward': 1,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.default.rp_filter': 0,
      // the VPC router never redirects
      'net.ipv4.conf.all.send_redirects': 0,
      'net.ipv4.conf.default.send_redirects': 0,
      'net.ipv6.conf.all.forwarding': 1,
      // The router's addresses are its own by construction. DAD would only hold back a bridge's link-local
      // address, and with it the first router advertisement, for a second after its first port appears.
      'net.ipv6.conf.all.accept_dad': 0,
      'net.ipv6.conf.default.accept_dad': 0,
    });
    await this.sysctl('instance', {
      // loose reverse-path filtering, as systemd distributions ship it
      'net.ipv4.conf.all.rp_filter': 2,
      'net.ipv4.conf.default.rp_filter': 2,
      // a host, not a router: it takes its IPv6 default route from router advertisements (with real DAD)
      'net.ipv6.conf.all.disable_ipv6': 0,
      'net.ipv6.conf.default.disable_ipv6': 0,
      'net.ipv6.conf.all.forwarding': 0,
      'net.ipv6.conf.all.accept_ra': 1,
      'net.ipv6.conf.default.accept_ra': 1,
    });

    const subnets = [...this.subnets.values()];
    await this.ipBatch('vpc', [
      'link set lo up',
      `addr add ${IMDS_ADDR}/32 dev lo`,
      `addr add ${IMDS_ADDR6}/128 dev lo nodad`,
      ...subnets.flatMap((s, i) => [
        `link add ${s.bridge} address ${bridgeMac(i)} mtu ${VPC_MTU} type bridge stp_state 0 forward_delay 0`,
        ...(s.v4 ? [`addr add ${s.v4.router}/${s.v4.cidr.prefixLen} dev ${s.bridge}`] : []),
        ...(s.v6 ? [`addr add ${s.v6.router}/${s.v6.cidr.prefixLen} dev ${s.bridge} nodad`] : []),
        `link set ${s.bridge} up`,
      ]),
      `link add rt0 type veth peer name eth0 netns ${this.remoteNs}`,
      `addr add ${REMOTE_ROUTER}/${REMOTE_PREFIX_LEN} dev rt0`,
      `addr add ${REMOTE_ROUTER6}/${REMOTE_PREFIX_LEN6} dev rt0 nodad`,
      'link set rt0 up',
    ]);
    await this.ipBatch('remote', [
      'link set lo up',
      `addr add ${REMOTE_ADDR}/${REMOTE_PREFIX_LEN} dev eth0`,
      `addr add ${REMOTE_ADDR6}/${REMOTE_PREFIX_LEN6} dev eth0 nodad`,
      'link set eth0 up',
      `route add default via ${REMOTE_ROUTER}`,
      `route add ::/0 via ${REMOTE_ROUTER6}`,
    ]);
    await this.ipBatch('instance', ['link set lo up']);
    await this.nft(baseRuleset() + imdsV4Ruleset(false));

    const node = (role: NsRole, script: string, ...args: string[]): string[] => ['ip', 'netns', 'exec', this.ns(role), process.execPath, script, ...args];
    const ready = (d: Daemon): boolean => d.log.includes('ready\n');
    const [dnsmasq, imds, echo] = await Promise.allSettled([
      Dnsmasq.start(this.vpcNs, this.tmpDir, subnets.map((s) => ({
        tag: s.bridge,
        bridge: s.bridge,
        ...(s.v4 ? { ipv4: { network: formatIpv4(s.v4.cidr.network), netmask: netmask(s.v4.cidr.prefixLen), router: s.v4.router } } : {}),
        ...(s.v6 ? { ipv6: { network: formatIpv6(s.v6.cidr.network), prefixLen: s.v6.cidr.prefixLen } } : {}),
      })), {
        ...(this.opts.dhcpRenewSeconds !== undefined ? { renewSeconds: this.opts.dhcpRenewSeconds } : {}),
        ...(this.opts.raIntervalSeconds !== undefined ? { raIntervalSeconds: this.opts.raIntervalSeconds } : {}),
      }),
      Daemon.start('imds-emulator', node('vpc', IMDS_EMULATOR, '--listen', `${IMDS_ADDR}:${IMDS_PORT}`, '--listen', `[${IMDS_ADDR6}]:${IMDS_PORT}`,
        '--control', this.controlSocket()), ready, DAEMON_START_TIMEOUT_MS),
      Daemon.start('tcp-echo', node('instance', TCP_ECHO, String(this.echoPort)), ready, DAEMON_START_TIMEOUT_MS),
    ]);
    if (dnsmasq.status === 'fulfilled') this.dnsmasq = dnsmasq.value;
    for (const d of [imds, echo]) if (d.status === 'fulfilled') this.daemons.push(d.value);
    for (const r of [dnsmasq, imds, echo]) if (r.status === 'rejected') throw r.reason;
    await this.control.setState(this.imdsState());
  }

  /** Runs state changes one at a time, so the router, nftables, dnsmasq and IMDS never see interleaved updates. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.destroying) return Promise.reject(new Error(`VPC ${this.prefix} is destroyed`));
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }

  private eni(eniId: string): Eni {
    const eni = this.enis.get(eniId);
    if (!eni) throw new Error(`no attached ENI ${eniId}`);
    return eni;
  }

  private checkAddress(eni: Eni, ip: string): void {
    const v4 = eni.subnet.v4;
    if (!v4) {
      if (!isIpv4(ip) || !contains(IPV6_ONLY_IPV4, ip)) throw new Error(`${ip} is not a 169.254.0.0/16 address, as IPv6-only subnet ${eni.subnet.name} hands out`);
    } else if (!isIpv4(ip) || !contains(v4.cidr, ip)) {
      throw new Error(`${ip} is not an address in subnet ${v4.text}`);
    }
    for (const other of [...this.enis.values(), eni]) {
      if (other.ipv4s.includes(ip)) throw new Error(`${ip} is already assigned to ${other.spec.id}`);
    }
  }

  private checkIpv6(eni: Eni, ip: string): void {
    const v6 = eni.subnet.v6;
    if (!v6) throw new Error(`subnet ${eni.subnet.name} has no IPv6 CIDR`);
    if (!canonical6(ip)) throw new Error(`${ip} is not an IPv6 address in RFC 5952 form`);
    if (!contains6(v6.cidr, ip)) throw new Error(`${ip} is not an address in subnet ${v6.text}`);
    for (const other of [...this.enis.values(), eni]) {
      if (other.ipv6s.includes(ip)) throw new Error(`${ip} is already assigned to ${other.spec.id}`);
    }
  }

  /** IPv4 or IPv6 by the presence of ':'. */
  private checkPrefix(eni: Eni, prefix: string): void {
    if (prefix.includes(':')) {
      const v6 = eni.subnet.v6;
      if (!v6) throw new Error(`subnet ${eni.subnet.name} has no IPv6 CIDR`);
      const cidr = parseCidr6(prefix);
      if (`${formatIpv6(cidr.network)}/${cidr.prefixLen}` !== prefix) throw new Error(`${prefix} is not an IPv6 CIDR in RFC 5952 form`);
      if (!covers6(v6.cidr, cidr)) throw new Error(`${prefix} is not inside subnet ${v6.text}`);
      for (const other of [...this.enis.values(), eni]) {
        if (other.ipv6Prefixes.includes(prefix)) throw new Error(`${prefix} is already delegated to ${other.spec.id}`);
      }
      return;
    }
    const v4 = eni.subnet.v4;
    if (!v4) throw new Error(`IPv6-only subnet ${eni.subnet.name} delegates no IPv4 prefixes`);
    const cidr = parseCidr(prefix);
    if (!contains(v4.cidr, formatIpv4(cidr.network)) || cidr.prefixLen < v4.cidr.prefixLen) {
      throw new Error(`${prefix} is not inside subnet ${v4.text}`);
    }
    for (const other of [...this.enis.values(), eni]) {
      if (other.prefixes.includes(prefix)) throw new Error(`${prefix} is already delegated to ${other.spec.id}`);
    }
  }

  private imdsState(): ImdsState {
    const defaults = emptyState();
    return {
      instanceId: this.opts.instanceId ?? defaults.instanceId,
      multiCard: this.opts.multiCard ?? defaults.multiCard,
      vpcId: this.opts.vpcId ?? defaults.vpcId,
      vpcCidrs: [this.opts.vpcCidr ?? '10.0.0.0/16'],
      enis: [...this.enis.values()].map((e) => ({
        mac: e.mac,
        interfaceId: e.spec.id,
        deviceNumber: e.spec.deviceNumber,
        networkCard: e.spec.networkCard ?? 0,
        subnetId: e.subnet.id,
        ...(e.subnet.v4 ? { subnetCidr: e.subnet.v4.text } : {}),
        ...(e.subnet.v6 ? { subnetIpv6Cidr: e.subnet.v6.text } : {}),
        ipv4s: [...e.ipv4s],
        ipv4Prefixes: [...e.prefixes],
        ipv6s: [...e.ipv6s],
        ipv6Prefixes: [...e.ipv6Prefixes],
      })),
    };
  }

  /**
   * The VPC delivers to the ENI that owns an address, never by ARP or neighbour discovery: a permanent neighbour
   * per assigned address, and a route per delegated prefix via the ENI (IPv4: its primary address; IPv6: its
   * EUI-64 link-local address, itself a permanent neighbour). Applies the difference to what was routed.
   */
  private async route(eni: Eni, want: Delivery): Promise<void> {
    const br = eni.subnet.bridge;
    const wanted = new Set(want.routes.map((r) => r.prefix));
    await this.ipBatch('vpc', [
      ...eni.routed.routes.filter((r) => !wanted.has(r.prefix)).map((r) => `route del ${r.prefix} dev ${br}`),
      ...eni.routed.neighbours.filter((ip) => !want.neighbours.includes(ip)).map((ip) => `neigh del ${ip} dev ${br}`),
      ...want.neighbours.map((ip) => `neigh replace ${ip} lladdr ${eni.mac} dev ${br} nud permanent`),
      ...want.routes.map((r) => `route replace ${r.prefix} via ${r.via} dev ${br}`),
    ]);
    eni.routed = want;
  }

  /** Brings the source check, router and IMDS in line with the ENI's current addresses. */
  private async publish(eni: Eni): Promise<void> {
    await this.nft(portRuleset({
      index: eni.index, port: eni.port, mac: eni.mac, sources: [...eni.ipv4s, ...eni.prefixes], ipv6Sources: [...eni.ipv6s, ...eni.ipv6Prefixes],
    }));
    await this.route(eni, delivery(eni.subnet, eni.mac, eni));
    await this.control.setState(this.imdsState());
  }

  /** DHCPv4 serves the primary IPv4 (not in an IPv6-only subnet), DHCPv6 the first IPv6. */
  private async publishBindings(): Promise<void> {
    const bindings = new Map<string, DhcpBinding>();
    for (const e of this.enis.values()) {
      const ipv4 = e.subnet.v4 ? e.ipv4s[0] : undefined;
      const ipv6 = e.ipv6s[0];
      bindings.set(e.mac, { ...(ipv4 === undefined ? {} : { ipv4 }), ...(ipv6 === undefined ? {} : { ipv6 }) });
    }
    await this.dnsmasq?.setBindings(bindings);
  }

  /**
   * Plugs an ENI into the instance: `eni.ifname` appears DOWN in the instance namespace. The primary ENI
   * (device 0, card 0) is also configured as a booted instance has it: up, primary address, main default route.
   */
  attach(spec: EniSpec): Promise<void> {
    return this.serial(async () => {
      const mac = spec.mac.toLowerCase();
      const subnet = this.subnets.get(spec.subnet);
      if (!subnet) throw new Error(`no subnet named ${spec.subnet}`);
      if (!MAC_RE.test(mac)) throw new Error(`bad MAC ${spec.mac}`);
      if (this.enis.has(spec.id)) throw new Error(`ENI ${spec.id} is already attached`);
      if ([...this.enis.values()].some((e) => e.mac === mac)) throw new Error(`MAC ${mac} is already attached`);
      if (subnet.v4 && spec.ipv4s.length === 0) throw new Error(`ENI ${spec.id} needs a primary IPv4 address`);
      // AWS's instance-metadata categories: for an IPv6-only network interface local-ipv4s "is not set and results
      // in an HTTP 404 response" (no IPv4 at all); earlier captures show one 169.254.x.x address. Both are modelled.
      if (!subnet.v4 && spec.ipv4s.length > 1) throw new Error(`ENI ${spec.id} in IPv6-only subnet ${subnet.name} has no IPv4 address or one (169.254) address`);
      const index = this.eniCount++;
      const eni: Eni = {
        spec, mac, subnet, index, port: `e${index}`, ipv4s: [], prefixes: [], ipv6s: [], ipv6Prefixes: [], routed: { neighbours: [], routes: [] },
      };
      for (const ip of spec.ipv4s) {
        this.checkAddress(eni, ip);
        eni.ipv4s.push(ip);
      }
      for (const prefix of spec.ipv4Prefixes ?? []) {
        if (prefix.includes(':')) throw new Error(`${prefix} is not an IPv4 prefix; put it in ipv6Prefixes`);
        this.checkPrefix(eni, prefix);
        eni.prefixes.push(prefix);
      }
      for (const ip of spec.ipv6s ?? []) {
        this.checkIpv6(eni, ip);
        eni.ipv6s.push(ip);
      }
      for (const prefix of spec.ipv6Prefixes ?? []) {
        if (!prefix.includes(':')) throw new Error(`${prefix} is not an IPv6 prefix; put it in ipv4Prefixes`);
        this.checkPrefix(eni, prefix);
        eni.ipv6Prefixes.push(prefix);
      }
      // Source check, router, DHCP and IMDS are ready before the link appears: no frame passes unchecked, and an
      // agent that reacts to the new link at once finds everything in place.
      this.enis.set(spec.id, eni);
      await this.publish(eni);
      await this.publishBindings();
      await this.ipBatch('vpc', [
        `link add ${eni.port} mtu ${VPC_MTU} type veth peer name ${spec.ifname} address ${mac} netns ${this.instanceNs}`,
        `link set ${eni.port} master ${subnet.bridge} up`,
      ]);
      if (spec.deviceNumber === 0 && (spec.networkCard ?? 0) === 0) {
        // The IPv6 default route is not set here: it comes from the router advertisement that the link-up solicits.
        await this.ipBatch('instance', [
          `link set ${spec.ifname} mtu ${VPC_MTU} up`,
          // `ip address add … metric M` puts the subnet route at M, as the image's network manager does for its
          // DHCP lease (ip-address(8), "metric NUMBER": the prefix route's priority).
          ...(subnet.v4 ? [
            `addr add ${eni.ipv4s[0]}/${subnet.v4.cidr.prefixLen} dev ${spec.ifname}${spec.routeMetric ? ` metric ${spec.routeMetric}` : ''}`,
            `route add default via ${subnet.v4.router} dev ${spec.ifname}${spec.routeMetric ? ` metric ${spec.routeMetric}` : ''}`,
          ] : []),
          ...(eni.ipv6s[0] === undefined ? [] : [`addr add ${eni.ipv6s[0]}/128 dev ${spec.ifname} nodad`]),
        ]);
      }
    });
  }

  /** Unplugs an ENI and removes every trace of it from the router, nftables, dnsmasq and IMDS. */
  detach(eniId: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      await this.ipBatch('vpc', [`link del ${eni.port}`]);
      this.enis.delete(eniId);
      await this.nft(removePortRuleset(eni.index, eni.port));
      await this.route(eni, { neighbours: [], routes: [] });
      await this.publishBindings();
      await this.control.setState(this.imdsState());
    });
  }

  assignIpv4(eniId: string, ip: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      if (!eni.subnet.v4) throw new Error(`${eniId} is in IPv6-only subnet ${eni.subnet.name}: no IPv4 addresses to assign`);
      this.checkAddress(eni, ip);
      eni.ipv4s.push(ip);
      await this.publish(eni);
    });
  }

  unassignIpv4(eniId: string, ip: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      if (eni.ipv4s[0] === ip) throw new Error(`${ip} is the primary address of ${eniId}; detach the ENI instead`);
      if (!eni.ipv4s.includes(ip)) throw new Error(`${ip} is not assigned to ${eniId}`);
      eni.ipv4s = eni.ipv4s.filter((a) => a !== ip);
      await this.publish(eni);
    });
  }

  /** The ENI's first IPv6 address is what DHCPv6 hands out; assigning or unassigning it changes the binding. */
  assignIpv6(eniId: string, ip: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      this.checkIpv6(eni, ip);
      eni.ipv6s.push(ip);
      await this.publish(eni);
      if (eni.ipv6s.length === 1) await this.publishBindings();
    });
  }

  unassignIpv6(eniId: string, ip: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      if (!eni.ipv6s.includes(ip)) throw new Error(`${ip} is not assigned to ${eniId}`);
      const first = eni.ipv6s[0];
      eni.ipv6s = eni.ipv6s.filter((a) => a !== ip);
      await this.publish(eni);
      if (first === ip) await this.publishBindings();
    });
  }

  /** An IPv4 or (with ':') IPv6 prefix. */
  assignPrefix(eniId: string, cidr: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      this.checkPrefix(eni, cidr);
      if (cidr.includes(':')) eni.ipv6Prefixes.push(cidr);
      else eni.prefixes.push(cidr);
      await this.publish(eni);
    });
  }

  unassignPrefix(eniId: string, cidr: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      const v6 = cidr.includes(':');
      if (!(v6 ? eni.ipv6Prefixes : eni.prefixes).includes(cidr)) throw new Error(`${cidr} is not delegated to ${eniId}`);
      if (v6) eni.ipv6Prefixes = eni.ipv6Prefixes.filter((p) => p !== cidr);
      else eni.prefixes = eni.prefixes.filter((p) => p !== cidr);
      await this.publish(eni);
    });
  }

  /** Makes the IPv4 IMDS endpoint unreachable (requests to it are dropped, they time out) or reachable again. */
  blockImdsV4(on: boolean): Promise<void> {
    return this.serial(() => this.nft(imdsV4Ruleset(on)));
  }

  /** The router's link-local address in an IPv6 subnet: the default gateway its advertisements announce. */
  gateway6(subnet: string): string {
    const s = this.subnets.get(subnet);
    if (!s?.v6) throw new Error(`no IPv6 subnet named ${subnet}`);
    return s.linkLocal;
  }

  /** dnsmasq's output so far (DHCP and router advertisements), for a test's failure message. */
  dhcpLog(): string {
    return this.dnsmasq?.log ?? '';
  }

  /** Runs argv in one of the namespaces (`ip netns exec`); never throws on a non-zero exit. */
  exec(role: NsRole, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', this.ns(role), ...argv], opts);
  }

  /** One HTTP request made from inside a namespace, e.g. to IMDS from the instance. */
  async http(role: NsRole, url: string, opts: HttpOptions = {}): Promise<HttpAnswer> {
    const timeoutMs = opts.timeoutMs ?? HTTP_TIMEOUT_MS;
    const argv = [process.execPath, HTTP_REQUEST, '--method', opts.method ?? 'GET', '--timeout', String(timeoutMs)];
    for (const [name, value] of Object.entries(opts.headers ?? {})) argv.push('--header', `${name}: ${value}`);
    const result = await this.exec(role, [...argv, url], { timeoutMs: timeoutMs + NODE_SLACK_MS });
    if (result.code !== 0) throw new Error(`http-request failed (${result.code}): ${result.stderr.trim()}`);
    return JSON.parse(result.stdout) as HttpAnswer;
  }

  /** One process in the remote namespace connects to every address in parallel; true where it read "ok". */
  async reachable(addrs: readonly string[], opts: ReachOptions = {}): Promise<Map<string, boolean>> {
    const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
    const argv = [process.execPath, PROBE, '--port', String(opts.port ?? this.echoPort), '--timeout', String(timeoutMs), ...addrs];
    const result = await this.exec('remote', argv, { timeoutMs: timeoutMs + NODE_SLACK_MS });
    if (result.code !== 0) throw new Error(`probe failed (${result.code}): ${result.stderr.trim()}`);
    const answers = JSON.parse(result.stdout) as Record<string, boolean>;
    return new Map(addrs.map((a) => [a, answers[a] === true]));
  }

  /** Packets the source/destination check dropped on this ENI's port (wrong source address or MAC). */
  async sourceCheckDrops(eniId: string): Promise<number> {
    const eni = this.eni(eniId);
    return parseCounterPackets(await must(['ip', 'netns', 'exec', this.vpcNs, ...counterQuery(eni.index)]));
  }

  /** Pids of every process running in one of this VPC's namespaces (daemons, and whatever tests started). */
  processes(): number[] {
    return pidsInNetns(this.nsInodes);
  }

  /** Kills everything running in the namespaces, deletes them and the temp dir. Idempotent. */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    live.delete(this);
    await Promise.all([...this.daemons.map((d) => d.stop()), this.dnsmasq?.stop()]);
    for (const pid of this.processes()) killQuietly(pid);
    await waitFor(`processes in ${this.prefix} namespaces to die`, () => this.processes().length === 0, KILL_GRACE_MS);
    for (const role of ['instance', 'vpc', 'remote'] as const) await run(['ip', 'netns', 'del', this.ns(role)]);
    rmSync(this.tmpDir, { recursive: true, force: true });
  }

  /** Last-resort teardown from an exit or signal handler, where nothing asynchronous runs. */
  destroySync(): void {
    live.delete(this);
    for (const d of this.daemons) d.signal('SIGKILL');
    const dnsmasqPid = this.dnsmasq?.pid;
    const pids = dnsmasqPid === undefined ? this.processes() : [dnsmasqPid, ...this.processes()];
    for (const pid of pids) killQuietly(pid);
    for (const role of ['instance', 'vpc', 'remote'] as const) {
      spawnSync('ip', ['netns', 'del', this.ns(role)], { stdio: 'ignore', timeout: KILL_GRACE_MS });
    }
    rmSync(this.tmpDir, { recursive: true, force: true });
  }
}
