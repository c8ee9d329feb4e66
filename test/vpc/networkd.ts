/**
 * A real systemd-networkd, with a private system D-Bus, in the instance namespace of a simulated VPC (tests run
 * inside scripts/sandbox.ts).
 *
 * Everything networkd reads or writes is private to one harness. A holder process in the instance network
 * namespace owns a mount namespace of its own (`unshare --mount --propagation private`: nothing mounted there
 * reaches the sandbox's mount namespace, which concurrently running test files share) with:
 *
 *   /run                       ← DIR/run: /run/dbus, /run/systemd/netif, /run/systemd/networkd.conf.d are ours,
 *                                and the machine's journal, udev and bus sockets are out of reach
 *   /run/systemd/network       ← `networkDir`
 *   /etc/systemd/network       ← DIR/etc-network
 *   /usr/lib/systemd/network   ← an empty directory: the distribution's .network files stay out of the experiments
 *   /sys                       read-only, as in a container: networkd then configures a link as soon as it
 *                              appears instead of waiting for its udev database entry (no udevd runs here)
 *
 * networkd, dbus-daemon, networkctl and every command run through `exec` enter that mount namespace and the
 * instance network namespace with nsenter. All of them live in the instance network namespace, so Vpc.destroy()
 * kills whatever a failed test leaves running.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertSandboxed } from './guard.js';
import { Daemon, run, waitFor, type RunOptions, type RunResult } from './proc.js';
import { busOwnerPid, startSystemBus } from './system-bus.js';
import type { Vpc } from './vpc.js';

const NETWORKD = '/lib/systemd/systemd-networkd';
export const NETWORKD_BUS_NAME = 'org.freedesktop.network1';
/** networkd logs this once it has read its config and enumerated links, addresses, routes and rules. */
const ENUMERATED = 'Enumeration completed';

const HOLDER_START_TIMEOUT_MS = 5_000;
/** From exec to "Enumeration completed" and, with a bus, to the bus name owned by the new process. */
const NETWORKD_START_TIMEOUT_MS = 10_000;
/** A link's way from appearing (or a reload, reconfigure, restart) to a setup state such as "configured". */
export const LINK_SETTLE_TIMEOUT_MS = 15_000;

/**
 * Runs as the holder: $1 the harness directory, $2 the directory to show at /run/systemd/network, then pairs of
 * extra bind mounts (source, target). Prints "ready" once the mounts are in place, then sleeps until killed.
 */
const HOLDER_SCRIPT = `set -eu
base=$1 network=$2
shift 2
mount -o remount,bind,ro /sys
mount --bind "$base/run" /run
mount --bind "$network" /run/systemd/network
mount --bind "$base/etc-network" /etc/systemd/network
mount --bind "$base/empty" /usr/lib/systemd/network
while [ $# -ge 2 ]; do mount --bind "$1" "$2"; shift 2; done
echo ready
exec sleep infinity
`;

/** Debug level: the "Removing foreign …" and DHCP client lines are the evidence the experiments read. */
const NETWORKD_ENV = { SYSTEMD_LOG_TARGET: 'console', SYSTEMD_LOG_LEVEL: 'debug', SYSTEMD_LOG_COLOR: '0' };
const TOOL_ENV = { SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' };

export interface NetworkdOptions {
  /** Shown at /run/systemd/network (e.g. an agent's EC2NET_ROOT/run/systemd/network); a fresh directory when omitted. */
  networkDir?: string;
  /** Files for /run/systemd/networkd.conf.d, by name. */
  confDropins?: Record<string, string>;
  /** Files for /etc/systemd/network, by name (e.g. netplan's 10-netplan-eth1.network). */
  etcNetworkFiles?: Record<string, string>;
  /** Run the private system bus (default true); networkctl needs it for every verb, networkd does not. */
  bus?: boolean;
  /** Extra bind mounts in the private mount namespace: target path → source path. */
  binds?: Record<string, string>;
}

export interface LogLine {
  /** Date.now() when the line arrived. */
  at: number;
  text: string;
}

/** One link as `networkctl status IF` shows it. */
export interface LinkStatus {
  /** "routable", "carrier", "degraded", "off", … */
  operational: string;
  /** "configured", "configuring", "unmanaged", "failed", "pending", "linger", … */
  setup: string;
  /** The "Network File:" line, when a file matched. */
  networkFile?: string;
  text: string;
}

export class Networkd {
  /** Write .network files here, before or after start (then reload); networkd reads them at /run/systemd/network. */
  readonly networkDir: string;
  /** Seen at /etc/systemd/network. */
  readonly etcNetworkDir: string;
  /** Seen at /run/systemd/networkd.conf.d. */
  readonly confDir: string;
  /** Seen at /run: networkd's state is under `${runDir}/systemd/netif`. */
  readonly runDir: string;
  /** Every line networkd wrote, across restarts. */
  readonly lines: LogLine[] = [];

  private holder: Daemon | undefined;
  private dbus: Daemon | undefined;
  private daemon: Daemon | undefined;

  private constructor(private readonly vpc: Vpc, private readonly base: string, networkDir: string | undefined, private readonly withBus: boolean) {
    this.runDir = join(base, 'run');
    this.networkDir = networkDir ?? join(base, 'network');
    this.etcNetworkDir = join(base, 'etc-network');
    this.confDir = join(this.runDir, 'systemd', 'networkd.conf.d');
    const mountPoints = [join(this.runDir, 'systemd', 'network'), join(this.runDir, 'dbus'), join(base, 'empty')];
    for (const dir of [this.networkDir, this.etcNetworkDir, this.confDir, ...mountPoints]) mkdirSync(dir, { recursive: true });
  }

  static async start(vpc: Vpc, opts: NetworkdOptions = {}): Promise<Networkd> {
    assertSandboxed();
    const nd = new Networkd(vpc, mkdtempSync(join(vpc.tmpDir, 'networkd-')), opts.networkDir, opts.bus ?? true);
    for (const [name, content] of Object.entries(opts.confDropins ?? {})) writeFileSync(join(nd.confDir, name), content);
    for (const [name, content] of Object.entries(opts.etcNetworkFiles ?? {})) writeFileSync(join(nd.etcNetworkDir, name), content);
    try {
      await nd.startHolder(opts.binds ?? {});
      if (nd.withBus) await nd.startBus();
      await nd.startNetworkd();
    } catch (err) {
      await nd.stop();
      throw err;
    }
    return nd;
  }

  private async startHolder(binds: Record<string, string>): Promise<void> {
    const pairs = Object.entries(binds).flatMap(([target, source]) => [source, target]);
    const argv = ['ip', 'netns', 'exec', this.vpc.instanceNs, 'unshare', '--mount', '--propagation', 'private', '--',
      'sh', '-c', HOLDER_SCRIPT, 'sh', this.base, this.networkDir, ...pairs];
    this.holder = await Daemon.start('networkd mount holder', argv, (d) => d.log.includes('ready\n'), HOLDER_START_TIMEOUT_MS);
  }

  private enter(argv: readonly string[]): string[] {
    const holder = this.holder;
    if (!holder || holder.exited) throw new Error('the networkd harness is not running');
    return ['nsenter', '--target', String(holder.pid), '--mount', '--net', '--', ...argv];
  }

  private async startBus(): Promise<void> {
    this.dbus = await startSystemBus(this.base, (argv) => this.enter(argv));
  }

  private async startNetworkd(): Promise<void> {
    const from = this.mark();
    const onLine = (text: string): void => {
      this.lines.push({ at: Date.now(), text });
    };
    const enumerated = (): boolean => this.lines.slice(from).some((l) => l.text === ENUMERATED);
    const daemon = await Daemon.start('systemd-networkd', this.enter([NETWORKD]), enumerated, NETWORKD_START_TIMEOUT_MS, { env: NETWORKD_ENV, onLine });
    this.daemon = daemon;
    if (!this.withBus) return;
    await waitFor(`networkd (pid ${daemon.pid}) to own ${NETWORKD_BUS_NAME}`, async () => {
      if (daemon.exited) throw new Error(`systemd-networkd exited: ${this.log(from)}`);
      return (await this.busOwnerPid()) === daemon.pid;
    }, NETWORKD_START_TIMEOUT_MS);
  }

  private busOwnerPid(): Promise<number | undefined> {
    return busOwnerPid((argv) => this.enter(argv), NETWORKD_BUS_NAME);
  }

  /** networkd's pid while it runs. */
  get pid(): number | undefined {
    return this.daemon && !this.daemon.exited ? this.daemon.pid : undefined;
  }

  /** Runs argv in the instance network namespace and the private mount namespace; never throws on a non-zero exit. */
  exec(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(this.enter(argv), opts);
  }

  networkctl(args: readonly string[]): Promise<RunResult> {
    return this.exec(['networkctl', '--no-pager', ...args], { env: TOOL_ENV });
  }

  private async mustNetworkctl(args: readonly string[]): Promise<string> {
    const r = await this.networkctl(args);
    if (r.code !== 0) throw new Error(`networkctl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** `networkctl reload`: re-reads the files; links whose matching file changed are reconfigured. */
  async reload(): Promise<void> {
    await this.mustNetworkctl(['reload']);
  }

  async reconfigure(ifname: string): Promise<void> {
    await this.mustNetworkctl(['reconfigure', ifname]);
  }

  async status(ifname: string): Promise<LinkStatus> {
    const text = await this.mustNetworkctl(['status', ifname]);
    const state = /^\s*State: (\S+) \((\S+)\)/m.exec(text);
    const file = /^\s*Network File: (\S+)/m.exec(text)?.[1];
    return { operational: state?.[1] ?? '', setup: state?.[2] ?? '', text, ...(file && file !== 'n/a' ? { networkFile: file } : {}) };
  }

  /** Polls `networkctl status IF` until its setup state is `setup` (e.g. "configured"); returns that status. */
  async waitForSetup(ifname: string, setup: string, timeoutMs = LINK_SETTLE_TIMEOUT_MS): Promise<LinkStatus> {
    let last: LinkStatus | undefined;
    try {
      await waitFor(`networkd to report ${ifname} ${setup}`, async () => {
        if (this.daemon?.exited) throw new Error(`systemd-networkd exited: ${this.log()}`);
        last = await this.status(ifname).catch(() => undefined);
        return last?.setup === setup;
      }, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}; last status:\n${last?.text ?? '(none)'}`, { cause: err });
    }
    return last as LinkStatus;
  }

  /** A position in `lines`, for waitForLine and log(since). */
  mark(): number {
    return this.lines.length;
  }

  /** Waits for a line after position `since` that matches; returns it. Works without a bus. */
  async waitForLine(match: RegExp, since: number, timeoutMs = LINK_SETTLE_TIMEOUT_MS): Promise<LogLine> {
    let found: LogLine | undefined;
    await waitFor(`networkd to log ${match}`, () => {
      found = this.lines.slice(since).find((l) => match.test(l.text));
      if (!found && this.daemon?.exited) throw new Error(`systemd-networkd exited: ${this.log(since)}`);
      return found !== undefined;
    }, timeoutMs);
    return found as LogLine;
  }

  /** Waits for networkd to log that the link reached `setup` (a transition after `since`). */
  waitForTransition(ifname: string, setup: string, since: number, timeoutMs = LINK_SETTLE_TIMEOUT_MS): Promise<LogLine> {
    return this.waitForLine(new RegExp(`^${ifname}: State changed: \\S+ -> ${setup}$`), since, timeoutMs);
  }

  /** Stops networkd (SIGTERM, as `systemctl stop` does); the bus and mounts stay for restart(). */
  async stopNetworkd(): Promise<void> {
    await this.daemon?.stop();
  }

  /** Stops networkd if it runs and starts it again with the same directories and bus. */
  async restart(): Promise<void> {
    await this.stopNetworkd();
    await this.startNetworkd();
  }

  /** What networkd logged from position `since` on (all of it by default), across restarts. */
  log(since = 0): string {
    return this.lines.slice(since).map((l) => l.text).join('\n');
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
    await this.dbus?.stop();
    await this.holder?.stop();
  }
}
