/**
 * A real NetworkManager (Debian 12's network-manager 1.42), with a private system D-Bus, in the instance namespace
 * of a simulated VPC (tests run inside scripts/sandbox.ts).
 *
 * As for networkd (test/vpc/networkd.ts), a holder process in the instance network namespace owns a mount
 * namespace of its own (`unshare --mount --propagation private`) in which every directory NetworkManager reads or
 * writes is the harness's:
 *
 *   /run                               ← DIR/run: /run/dbus and /run/NetworkManager are ours; the machine's udev
 *                                        database, journal and bus sockets are out of reach
 *   /etc/NetworkManager                ← DIR/etc-nm: NetworkManager.conf (below) and the image's profiles
 *   /var/lib/NetworkManager            ← DIR/var-lib: NetworkManager.state, leases, secret_key
 *   /usr/lib/NetworkManager/conf.d     ← an empty directory: the distribution's drop-ins stay out
 *   /usr/lib/NetworkManager/system-connections ← the same empty directory
 *   /sys                               read-only, as in a container: NetworkManager 1.42 then uses no udev
 *                                      (nm-linux-platform.c only reads udev when /sys is writable) and takes
 *                                      a link as soon as the kernel announces it
 *
 * The configuration is RHEL's shape: the keyfile plugin only, NetworkManager's internal DHCP client, and, unless
 * a test says otherwise, no `no-auto-default` (RHEL without NetworkManager-config-server makes a "Wired connection
 * N" for every new ENI). It never touches the machine: DNS (`dns=none`, `rc-manager=unmanaged`), the hostname
 * (`hostname-mode=none`) and connectivity checks are off, and it sees only the instance namespace's links.
 * NetworkManager, dbus-daemon, nmcli and every command run through `exec` enter the holder's mount namespace and
 * the instance network namespace with nsenter, so Vpc.destroy() kills whatever a failed test leaves running.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertSandboxed } from './guard.js';
import { Daemon, run, waitFor, type RunOptions, type RunResult } from './proc.js';
import { busOwnerPid, startSystemBus } from './system-bus.js';
import type { Vpc } from './vpc.js';

const NETWORK_MANAGER = '/usr/sbin/NetworkManager';
export const NM_BUS_NAME = 'org.freedesktop.NetworkManager';
/** NetworkManager logs this once it has read its profiles and taken (or assumed) every device. */
const STARTED = /manager: startup complete/;

const HOLDER_START_TIMEOUT_MS = 5_000;
const NM_START_TIMEOUT_MS = 20_000;
/** A device's way from appearing (or `connection up`, a restart) to an activated connection with its DHCP lease. */
export const NM_SETTLE_TIMEOUT_MS = 30_000;

/** $1 the harness directory, then pairs of extra bind mounts (source, target); "ready" once the mounts are in place. */
const HOLDER_SCRIPT = `set -eu
base=$1
shift 1
mount -o remount,bind,ro /sys
mount --bind "$base/run" /run
mount --bind "$base/etc-nm" /etc/NetworkManager
mount --bind "$base/var-lib" /var/lib/NetworkManager
mount --bind "$base/empty" /usr/lib/NetworkManager/conf.d
mount --bind "$base/empty" /usr/lib/NetworkManager/system-connections
while [ $# -ge 2 ]; do mount --bind "$1" "$2"; shift 2; done
echo ready
exec sleep infinity
`;

/** NetworkManager.conf(5): RHEL's plugin and DHCP client; nothing outside the namespace is touched. */
export function nmConf(extra = ''): string {
  return `[main]
plugins=keyfile
dhcp=internal
dns=none
rc-manager=unmanaged
hostname-mode=none
auth-polkit=false
systemd-resolved=false
${extra}
[logging]
level=DEBUG
domains=ALL

[connectivity]
enabled=false
`;
}

const TOOL_ENV = { NO_COLOR: '1' };

export interface NetworkManagerOptions {
  /** Extra lines for NetworkManager.conf's [main] section (e.g. `no-auto-default=*`). */
  mainConf?: string;
  /** Files for /etc/NetworkManager/conf.d, by name. */
  confDropins?: Record<string, string>;
  /** The image's profiles, for /etc/NetworkManager/system-connections (written 0600, as the keyfile plugin requires). */
  profiles?: Record<string, string>;
  /** Shown at /run/NetworkManager (e.g. an agent's EC2NET_ROOT/run/NetworkManager); a fresh directory when omitted. */
  runDir?: string;
  /** Extra bind mounts in the private mount namespace: target path → source path. */
  binds?: Record<string, string>;
}

export interface LogLine {
  at: number;
  text: string;
}

/** One device as `nmcli -t device` shows it. */
export interface DeviceStatus {
  device: string;
  /** "connected", "disconnected", "unmanaged", "connecting (getting IP configuration)", … */
  state: string;
  connection: string;
}

export class NetworkManager {
  /** Seen at /run/NetworkManager. */
  readonly runDir: string;
  /** Seen at /etc/NetworkManager. */
  readonly etcDir: string;
  readonly lines: LogLine[] = [];

  private holder: Daemon | undefined;
  private dbus: Daemon | undefined;
  private daemon: Daemon | undefined;

  private constructor(private readonly vpc: Vpc, private readonly base: string, runDir: string | undefined) {
    this.runDir = runDir ?? join(base, 'run-nm');
    this.etcDir = join(base, 'etc-nm');
    const dirs = [join(base, 'run', 'dbus'), join(base, 'run', 'NetworkManager'), join(this.etcDir, 'conf.d'), join(this.etcDir, 'system-connections'), join(base, 'var-lib'), join(base, 'empty'), this.runDir];
    for (const dir of dirs) mkdirSync(dir, { recursive: true });
  }

  static async start(vpc: Vpc, opts: NetworkManagerOptions = {}): Promise<NetworkManager> {
    assertSandboxed();
    const nm = new NetworkManager(vpc, mkdtempSync(join(vpc.tmpDir, 'nm-')), opts.runDir);
    writeFileSync(join(nm.etcDir, 'NetworkManager.conf'), nmConf(opts.mainConf));
    for (const [name, content] of Object.entries(opts.confDropins ?? {})) writeFileSync(join(nm.etcDir, 'conf.d', name), content);
    for (const [name, content] of Object.entries(opts.profiles ?? {})) nm.writeProfile(name, content);
    try {
      await nm.startHolder({ '/run/NetworkManager': nm.runDir, ...(opts.binds ?? {}) });
      nm.dbus = await startSystemBus(nm.base, (argv) => nm.enter(argv));
      await nm.startDaemon();
    } catch (err) {
      await nm.stop();
      throw err;
    }
    return nm;
  }

  /** A profile of the image's, in /etc/NetworkManager/system-connections (read at start or at `connection load`). */
  writeProfile(name: string, content: string): string {
    const path = join(this.etcDir, 'system-connections', name);
    writeFileSync(path, content, { mode: 0o600 });
    chmodSync(path, 0o600);
    return `/etc/NetworkManager/system-connections/${name}`;
  }

  private async startHolder(binds: Record<string, string>): Promise<void> {
    const pairs = Object.entries(binds).flatMap(([target, source]) => [source, target]);
    const argv = ['ip', 'netns', 'exec', this.vpc.instanceNs, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', HOLDER_SCRIPT, 'sh', this.base, ...pairs];
    this.holder = await Daemon.start('NetworkManager mount holder', argv, (d) => d.log.includes('ready\n'), HOLDER_START_TIMEOUT_MS);
  }

  /** The argv that runs `argv` in the instance network namespace and the private mount namespace (nsenter execs it). */
  enter(argv: readonly string[]): string[] {
    const holder = this.holder;
    if (!holder || holder.exited) throw new Error('the NetworkManager harness is not running');
    return ['nsenter', '--target', String(holder.pid), '--mount', '--net', '--', ...argv];
  }

  private async startDaemon(): Promise<void> {
    const from = this.mark();
    const onLine = (text: string): void => {
      this.lines.push({ at: Date.now(), text });
    };
    const started = (): boolean => this.lines.slice(from).some((l) => STARTED.test(l.text));
    // --debug: stay in the foreground and log to stderr (NetworkManager(8)).
    const daemon = await Daemon.start('NetworkManager', this.enter([NETWORK_MANAGER, '--debug']), started, NM_START_TIMEOUT_MS, { onLine });
    this.daemon = daemon;
    await waitFor(`NetworkManager (pid ${daemon.pid}) to own ${NM_BUS_NAME}`, async () => {
      if (daemon.exited) throw new Error(`NetworkManager exited: ${this.log(from)}`);
      return (await busOwnerPid((argv) => this.enter(argv), NM_BUS_NAME)) === daemon.pid;
    }, NM_START_TIMEOUT_MS);
  }

  get pid(): number | undefined {
    return this.daemon && !this.daemon.exited ? this.daemon.pid : undefined;
  }

  /** Runs argv in the instance network namespace and the private mount namespace; never throws on a non-zero exit. */
  exec(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(this.enter(argv), opts);
  }

  nmcli(args: readonly string[]): Promise<RunResult> {
    return this.exec(['nmcli', ...args], { env: TOOL_ENV, timeoutMs: NM_SETTLE_TIMEOUT_MS + 5_000 });
  }

  /** nmcli that must exit 0; returns its stdout. */
  async must(args: readonly string[]): Promise<string> {
    const r = await this.nmcli(args);
    if (r.code !== 0) throw new Error(`nmcli ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}${r.stdout.trim()}`);
    return r.stdout;
  }

  async device(ifname: string): Promise<DeviceStatus | undefined> {
    const out = await this.must(['-t', '-f', 'DEVICE,STATE,CONNECTION', 'device']);
    for (const line of out.split('\n')) {
      const [device, state, ...rest] = line.split(':');
      if (device === ifname) return { device, state: state ?? '', connection: rest.join(':') };
    }
    return undefined;
  }

  /** Waits until the device is connected with the connection named `connection` (any, when omitted). */
  async waitConnected(ifname: string, connection?: string, timeoutMs = NM_SETTLE_TIMEOUT_MS): Promise<DeviceStatus> {
    let last: DeviceStatus | undefined;
    try {
      await waitFor(`NetworkManager to connect ${ifname}${connection ? ` with ${connection}` : ''}`, async () => {
        if (this.daemon?.exited) throw new Error(`NetworkManager exited: ${this.log()}`);
        last = await this.device(ifname).catch(() => undefined);
        return last?.state === 'connected' && (connection === undefined || last.connection === connection);
      }, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}; last: ${JSON.stringify(last)}`, { cause: err });
    }
    return last as DeviceStatus;
  }

  mark(): number {
    return this.lines.length;
  }

  log(since = 0): string {
    return this.lines.slice(since).map((l) => l.text).join('\n');
  }

  /** Stops NetworkManager (SIGTERM, as `systemctl stop` does); bus and mounts stay for restart(). */
  async stopDaemon(): Promise<void> {
    await this.daemon?.stop();
  }

  /** Stops NetworkManager and starts it again with the same directories and bus (`systemctl restart`). */
  async restart(): Promise<void> {
    await this.stopDaemon();
    await this.startDaemon();
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
    await this.dbus?.stop();
    await this.holder?.stop();
  }
}
