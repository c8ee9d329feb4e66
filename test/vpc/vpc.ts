/**
 * A simulated VPC in network namespaces, for tests that run inside scripts/sandbox.ts.
 *
 *   remote ns (198.51.100.10) ── rt0 ── vpc ns (router: one bridge per subnet, IMDS on 169.254.169.254,
 *                                              dnsmasq, source/destination check) ── one veth per ENI ── instance ns
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contains, isIpv4, netmask, formatIpv4, parseCidr, subnetRouter, type Ipv4Cidr } from './addr.js';
import { Dnsmasq } from './dnsmasq.js';
import { assertSandboxed, NETNS_RUN_DIR } from './guard.js';
import { ImdsControl } from './imds-control.js';
import { emptyState, type ImdsState } from './imds-model.js';
import { Daemon, KILL_GRACE_MS, must, pidsInNetns, run, waitFor, type RunOptions, type RunResult } from './proc.js';
import { baseRuleset, counterQuery, parseCounterPackets, portRuleset, removePortRuleset } from './source-check.js';

export type { Fault, RequestLogEntry } from './imds-model.js';
export type { RunOptions, RunResult } from './proc.js';

export interface SubnetSpec {
  name: string;
  cidr: string;
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
  /** Primary first. */
  ipv4s: string[];
  ipv4Prefixes?: string[];
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
  readonly cidrText: string;
  readonly cidr: Ipv4Cidr;
  readonly id: string;
  readonly bridge: string;
  readonly router: string;
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
  /** What the router was last told, so a change applies only the difference. */
  routed: { ipv4s: string[]; prefixes: string[] };
}

const HERE = dirname(fileURLToPath(import.meta.url));
const IMDS_EMULATOR = join(HERE, 'imds-emulator.js');
const TCP_ECHO = join(HERE, 'tcp-echo.js');
const PROBE = join(HERE, 'probe.js');
const HTTP_REQUEST = join(HERE, 'http-request.js');
/** Shell script, not compiled: lives in the source tree next to this file's source. */
export const DHCLIENT_SCRIPT = join(HERE, '../../../test/vpc/dhclient-script');

export const IMDS_ADDR = '169.254.169.254';
const REMOTE_ADDR = '198.51.100.10';
const REMOTE_ROUTER = '198.51.100.1';
const REMOTE_PREFIX_LEN = 24;
const DEFAULT_ECHO_PORT = 7;
/** EC2 ENIs run jumbo frames inside the VPC. */
const VPC_MTU = 9001;
const DAEMON_START_TIMEOUT_MS = 5_000;
const PROBE_TIMEOUT_MS = 2_000;
const HTTP_TIMEOUT_MS = 5_000;
/** Start-up of a node child on top of its own timeout. */
const NODE_SLACK_MS = 5_000;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

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
  readonly tmpDir: string;
  readonly imdsUrl = `http://${IMDS_ADDR}`;
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
      const cidr = parseCidr(s.cidr);
      this.subnets.set(s.name, {
        name: s.name,
        cidrText: s.cidr,
        cidr,
        id: s.id ?? `subnet-${(i + 1).toString(16).padStart(17, '0')}`,
        bridge: `br${i}`,
        router: subnetRouter(cidr),
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
    });
    // loose reverse-path filtering, as systemd distributions ship it
    await this.sysctl('instance', { 'net.ipv4.conf.all.rp_filter': 2, 'net.ipv4.conf.default.rp_filter': 2 });

    const subnets = [...this.subnets.values()];
    await this.ipBatch('vpc', [
      'link set lo up',
      `addr add ${IMDS_ADDR}/32 dev lo`,
      ...subnets.flatMap((s, i) => [
        `link add ${s.bridge} address 02:e2:0e:00:00:${(i + 1).toString(16).padStart(2, '0')} mtu ${VPC_MTU} type bridge stp_state 0 forward_delay 0`,
        `addr add ${s.router}/${s.cidr.prefixLen} dev ${s.bridge}`,
        `link set ${s.bridge} up`,
      ]),
      `link add rt0 type veth peer name eth0 netns ${this.remoteNs}`,
      `addr add ${REMOTE_ROUTER}/${REMOTE_PREFIX_LEN} dev rt0`,
      'link set rt0 up',
    ]);
    await this.ipBatch('remote', [
      'link set lo up',
      `addr add ${REMOTE_ADDR}/${REMOTE_PREFIX_LEN} dev eth0`,
      'link set eth0 up',
      `route add default via ${REMOTE_ROUTER}`,
    ]);
    await this.ipBatch('instance', ['link set lo up']);
    await this.nft(baseRuleset());

    const node = (role: NsRole, script: string, ...args: string[]): string[] => ['ip', 'netns', 'exec', this.ns(role), process.execPath, script, ...args];
    const ready = (d: Daemon): boolean => d.log.includes('ready\n');
    const [dnsmasq, imds, echo] = await Promise.allSettled([
      Dnsmasq.start(this.vpcNs, this.tmpDir, subnets.map((s) => ({
        tag: s.bridge, bridge: s.bridge, network: formatIpv4(s.cidr.network), netmask: netmask(s.cidr.prefixLen), router: s.router,
      }))),
      Daemon.start('imds-emulator', node('vpc', IMDS_EMULATOR, '--listen', `${IMDS_ADDR}:80`, '--control', this.controlSocket()), ready, DAEMON_START_TIMEOUT_MS),
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
    if (!isIpv4(ip) || !contains(eni.subnet.cidr, ip)) throw new Error(`${ip} is not an address in subnet ${eni.subnet.cidrText}`);
    for (const other of [...this.enis.values(), eni]) {
      if (other.ipv4s.includes(ip)) throw new Error(`${ip} is already assigned to ${other.spec.id}`);
    }
  }

  private checkPrefix(eni: Eni, prefix: string): void {
    const cidr = parseCidr(prefix);
    if (!contains(eni.subnet.cidr, formatIpv4(cidr.network)) || cidr.prefixLen < eni.subnet.cidr.prefixLen) {
      throw new Error(`${prefix} is not inside subnet ${eni.subnet.cidrText}`);
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
        subnetCidr: e.subnet.cidrText,
        ipv4s: [...e.ipv4s],
        ipv4Prefixes: [...e.prefixes],
      })),
    };
  }

  /**
   * The VPC delivers to the ENI that owns an address, never by ARP: a permanent neighbour per assigned address
   * and a route per delegated prefix via the ENI's primary address. Applies the difference to what was routed.
   */
  private async route(eni: Eni, want: { ipv4s: string[]; prefixes: string[] }): Promise<void> {
    const br = eni.subnet.bridge;
    await this.ipBatch('vpc', [
      ...eni.routed.prefixes.filter((p) => !want.prefixes.includes(p)).map((p) => `route del ${p} dev ${br}`),
      ...eni.routed.ipv4s.filter((ip) => !want.ipv4s.includes(ip)).map((ip) => `neigh del ${ip} dev ${br}`),
      ...want.ipv4s.map((ip) => `neigh replace ${ip} lladdr ${eni.mac} dev ${br} nud permanent`),
      ...want.prefixes.map((p) => `route replace ${p} via ${eni.ipv4s[0]} dev ${br}`),
    ]);
    eni.routed = { ipv4s: [...want.ipv4s], prefixes: [...want.prefixes] };
  }

  /** Brings the source check, router and IMDS in line with the ENI's current addresses. */
  private async publish(eni: Eni): Promise<void> {
    await this.nft(portRuleset({ index: eni.index, port: eni.port, mac: eni.mac, sources: [...eni.ipv4s, ...eni.prefixes] }));
    await this.route(eni, { ipv4s: eni.ipv4s, prefixes: eni.prefixes });
    await this.control.setState(this.imdsState());
  }

  private async publishBindings(): Promise<void> {
    const bindings = new Map<string, string>();
    for (const e of this.enis.values()) {
      const primary = e.ipv4s[0];
      if (primary !== undefined) bindings.set(e.mac, primary);
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
      if (spec.ipv4s.length === 0) throw new Error(`ENI ${spec.id} needs a primary IPv4 address`);
      const index = this.eniCount++;
      const eni: Eni = { spec, mac, subnet, index, port: `e${index}`, ipv4s: [], prefixes: [], routed: { ipv4s: [], prefixes: [] } };
      for (const ip of spec.ipv4s) {
        this.checkAddress(eni, ip);
        eni.ipv4s.push(ip);
      }
      for (const prefix of spec.ipv4Prefixes ?? []) {
        this.checkPrefix(eni, prefix);
        eni.prefixes.push(prefix);
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
        await this.ipBatch('instance', [
          `link set ${spec.ifname} mtu ${VPC_MTU} up`,
          `addr add ${eni.ipv4s[0]}/${subnet.cidr.prefixLen} dev ${spec.ifname}`,
          `route add default via ${subnet.router} dev ${spec.ifname}`,
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
      await this.route(eni, { ipv4s: [], prefixes: [] });
      await this.publishBindings();
      await this.control.setState(this.imdsState());
    });
  }

  assignIpv4(eniId: string, ip: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
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

  assignPrefix(eniId: string, cidr: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      this.checkPrefix(eni, cidr);
      eni.prefixes.push(cidr);
      await this.publish(eni);
    });
  }

  unassignPrefix(eniId: string, cidr: string): Promise<void> {
    return this.serial(async () => {
      const eni = this.eni(eniId);
      if (!eni.prefixes.includes(cidr)) throw new Error(`${cidr} is not delegated to ${eniId}`);
      eni.prefixes = eni.prefixes.filter((p) => p !== cidr);
      await this.publish(eni);
    });
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
