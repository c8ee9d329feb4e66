/**
 * Brings an interface's DHCP up and down. Where initscripts manage interfaces, its own `ifup`/`ifdown` read the
 * files we wrote. Elsewhere the agent runs dhclient itself, with a dhclient-IF.conf of its own under /run (see
 * renderDhclientConf) and ec2net's own dhclient script, which only sets the leased address and the DHCP MTU: routes are the agent's job, and the
 * system's dhclient-script would also rewrite /etc/resolv.conf and add a competing main-table default route.
 */
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { Ec2netError } from '../errors.js';
import type { ActivationMode, Paths } from '../config.js';
import { renderDhclientConf } from '../render/ifcfg.js';
import { nmProfilePath, nmUuid } from '../render/nm.js';
import { runChild } from './child.js';
import { exists, readText, removeFile, writeAtomic } from './files.js';

/** Bound on each child process (ifup, ifdown, dhclient start and release). */
export const CHILD_TIMEOUT_MS = 30_000;

export interface Activator {
  readonly kind: 'ifup' | 'dhclient' | 'networkctl' | 'nmcli';
  /**
   * Starts DHCP on the interface unless it already runs with these settings; returns immediately (the caller waits,
   * bounded). `routeMetric`: the metric of the lease's subnet route, where the activator sets it (ec2net's own
   * dhclient; initscripts and networkd have their own).
   */
  up(ifname: string, routeMetric?: number): Promise<void>;
  /**
   * Whether the interface's DHCP client runs. The address it put on the link outlives it (no lifetime), so an
   * address in place says nothing about renewals: a client that died (killed with the cgroup of the unit that
   * started it, or crashed) must be started again; so must one started with another `routeMetric`. Reads files
   * only: a quiet refresh round starts no process.
   */
  isRunning(ifname: string, routeMetric?: number): Promise<boolean>;
  /** Stops DHCP on the interface and releases the lease; a no-op when nothing runs. */
  down(ifname: string): Promise<void>;
  /** The interface is gone: stop its DHCP client without a release and remove the client's run files. */
  forget(ifname: string): Promise<void>;
  /** The written config changed: the network manager re-reads it (networkd only; the others read it at up). */
  reload?(): Promise<void>;
  /**
   * When DHCP has not put the address in place `afterMs` after up(), run() starts the interface over (networkd
   * only; the other activators' DHCP clients keep trying by themselves).
   */
  readonly restart?: { readonly afterMs: number; run(ifname: string): Promise<void> };
}

/**
 * networkd: how long DHCP may take before the link is reconfigured. A `reconfigure` sent while networkd was adding
 * a new lease's address (right after a `reload` had started the link) left that address "removing" for good: the
 * link never got it, and a later `reconfigure` did not clear it (networkd 252, a run in a few in the simulated
 * VPC). So up() no longer reconfigures a link the reload configures anyway; this is the fallback.
 */
export const NETWORKD_RESTART_AFTER_MS = 20_000;

/** ec2net's dhclient script in a built checkout; packages install it under /usr/libexec/ec2net. */
export const CHECKOUT_DHCLIENT_SCRIPT = fileURLToPath(new URL('../../../libexec/ec2net-dhclient-script', import.meta.url));

let childrenStarted = 0;

/** Child processes this process has started for activation: a no-op refresh must start none. */
export function childProcessCount(): number {
  return childrenStarted;
}

/**
 * Runs a child to its end, within CHILD_TIMEOUT_MS; returns its exit status, one of `expected`, and fails for any
 * other (with the child's output).
 */
async function exitStatus(argv: readonly string[], fields: Record<string, unknown>, expected: readonly number[]): Promise<number> {
  childrenStarted++;
  const r = await runChild(argv, CHILD_TIMEOUT_MS);
  if (r.exitCode !== undefined && !r.timedOut && expected.includes(r.exitCode)) return r.exitCode;
  const why = r.startError ? `cannot be run (${r.startError})` : r.timedOut ? `did not finish within ${CHILD_TIMEOUT_MS} ms` : r.signal ? `was killed by ${r.signal}` : `exited ${r.exitCode}`;
  throw new Ec2netError('PluginFailure', `${argv[0]} ${why}`, {
    ...fields,
    command: argv.join(' '),
    ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }),
    ...(r.output.trim() ? { output: r.output.trim() } : {}),
  });
}

/** Runs a child that must exit 0. */
async function run(argv: readonly string[], fields: Record<string, unknown>): Promise<void> {
  await exitStatus(argv, fields, [0]);
}

function dhclientFiles(paths: Paths, ifname: string) {
  return {
    conf: `${paths.runDir}/dhclient-${ifname}.conf`,
    pid: `${paths.runDir}/dhclient-${ifname}.pid`,
    leases: `${paths.runDir}/dhclient-${ifname}.leases`,
    /** What the client was started with for its script (the unit reads it as EnvironmentFile=). */
    env: `${paths.runDir}/dhclient-${ifname}.env`,
  };
}

async function livePid(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  const pid = /^\d+$/.test(text.trim()) ? Number(text.trim()) : 0;
  if (pid <= 1) return undefined;
  try {
    process.kill(pid, 0);
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    return cmdline.includes('dhclient') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Ends a client with SIGTERM (no release: its address stays) and waits, bounded, until it has gone. */
async function stopClient(pidFile: string, pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < CLIENT_STOP_WAIT_MS && (await livePid(pidFile)) === pid; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How long a client ended with SIGTERM is waited for before a new one starts. */
const CLIENT_STOP_WAIT_MS = 2_000;

/**
 * Where systemd runs, ec2net's dhclient for IF runs as ec2net-dhclient@IF.service (systemd/): in a unit of its own,
 * not in the cgroup of whichever unit started it (ec2netd, ec2ifscan, ec2net-ifup@), so that a restart or an
 * upgrade of ec2netd does not kill it and stop its renewals. The unit runs the packaged script at its packaged
 * path; a checkout, a test root (EC2NET_ROOT) or an admin's own script runs dhclient directly.
 */
export const DHCLIENT_UNIT = 'ec2net-dhclient@';
export const PACKAGED_DHCLIENT_SCRIPT = '/usr/libexec/ec2net/ec2net-dhclient-script';

/** systemctl's exit status for a unit it cannot find (systemctl(1), "Exit status": 5, "program is not installed"). */
const SYSTEMCTL_NO_SUCH_UNIT = 5;

async function systemdRuns(paths: Paths): Promise<boolean> {
  return paths.root === '' && (await exists('/run/systemd/system'));
}

/**
 * Stopping needs no systemctl: `dhclient -r` and forget() end the client with SIGTERM, which systemd counts as a
 * clean exit of the unit's process (no Restart=), leaving the unit inactive.
 */
function dhclientActivator(paths: Paths, script: string, viaSystemd: boolean): Activator {
  const args = (ifname: string) => {
    const f = dhclientFiles(paths, ifname);
    return ['-4', '-cf', f.conf, '-sf', script, '-pf', f.pid, '-lf', f.leases];
  };
  /** The environment the script gets (dhclient -e): the subnet route's metric. */
  const envOf = (routeMetric: number | undefined) => `EC2NET_ROUTE_METRIC=${routeMetric ?? ''}\n`;
  /** The live client's pid when one runs with `env` (a client started before ec2net passed a metric runs as with none). */
  const runsWith = async (ifname: string, env: string): Promise<number | undefined> => {
    const f = dhclientFiles(paths, ifname);
    const pid = await livePid(f.pid);
    const started = (await readFile(f.env, 'utf8').catch(() => undefined)) ?? envOf(undefined);
    return pid !== undefined && started === env ? pid : undefined;
  };
  return {
    kind: 'dhclient',
    async up(ifname, routeMetric) {
      const f = dhclientFiles(paths, ifname);
      const env = envOf(routeMetric);
      if ((await runsWith(ifname, env)) !== undefined) return;
      const pid = await livePid(f.pid);
      await Promise.all([
        writeAtomic({ path: f.conf, content: renderDhclientConf(false), mode: 0o644 }),
        writeAtomic({ path: f.env, content: env, mode: 0o644 }),
      ]);
      // restart, not start: a unit left active by a client that has since gone, or started with another metric, is
      // started over. A unit that is not installed (a checkout's run on a systemd host) leaves the client to be run
      // directly. A client stopped with SIGTERM leaves its address in place (no release).
      const unit = `${DHCLIENT_UNIT}${ifname}.service`;
      if (viaSystemd && (await exitStatus(['systemctl', 'restart', unit], { iface: ifname }, [0, SYSTEMCTL_NO_SUCH_UNIT])) === 0) return;
      if (pid) await stopClient(f.pid, pid);
      await run(['dhclient', ...args(ifname), '-e', env.trim(), '-nw', ifname], { iface: ifname });
    },
    async isRunning(ifname, routeMetric) {
      return (await runsWith(ifname, envOf(routeMetric))) !== undefined;
    },
    async down(ifname) {
      if (!(await livePid(dhclientFiles(paths, ifname).pid))) return;
      await run(['dhclient', ...args(ifname), '-r', ifname], { iface: ifname });
    },
    async forget(ifname) {
      const files = dhclientFiles(paths, ifname);
      const pid = await livePid(files.pid);
      if (pid) process.kill(pid, 'SIGTERM');
      for (const f of [files.pid, files.leases, files.conf, files.env]) await removeFile(f);
    },
  };
}

function ifupActivator(): Activator {
  return {
    kind: 'ifup',
    up: (ifname) => run(['ifup', ifname], { iface: ifname }),
    // initscripts' dhclient runs in whatever started ifup; its pid file is initscripts' business.
    isRunning: async () => true,
    down: (ifname) => run(['ifdown', ifname], { iface: ifname }),
    // initscripts' dhclient exits with its interface.
    forget: async () => undefined,
  };
}

/**
 * networkd: `networkctl reload` re-reads the units and configures every link whose unit changed; `up` brings back
 * a link `networkctl down` took down (ec2ifdown), which networkd then configures; `reconfigure` starts a link
 * over, only as the fallback (NETWORKD_RESTART_AFTER_MS). networkd's own DHCP client keeps running, so there is
 * nothing to forget when a link goes.
 */
export function networkctlActivator(): Activator {
  return {
    kind: 'networkctl',
    async up(ifname) {
      await run(['networkctl', 'reload'], { iface: ifname });
      await run(['networkctl', 'up', ifname], { iface: ifname });
    },
    // networkd's DHCP client is networkd itself.
    isRunning: async () => true,
    down: (ifname) => run(['networkctl', 'down', ifname], { iface: ifname }),
    forget: async () => undefined,
    reload: () => run(['networkctl', 'reload'], {}),
    restart: { afterMs: NETWORKD_RESTART_AFTER_MS, run: (ifname) => run(['networkctl', 'reconfigure', ifname], { iface: ifname }) },
  };
}

/**
 * nmcli(1), "Exit status": 6 disconnecting the device failed (it was not active), 10 the connection or device does
 * not exist.
 */
export const NMCLI_NOT_ACTIVE = 6;
export const NMCLI_NOT_FOUND = 10;
/** How long `nmcli connection up` waits for the activation (link, DHCP) to finish; within CHILD_TIMEOUT_MS. */
const NMCLI_WAIT_S = 25;

/** Runs nmcli; returns its exit status, one of `expected` (0 by default). */
export function nmcli(args: readonly string[], fields: Record<string, unknown>, expected: readonly number[] = [0]): Promise<number> {
  return exitStatus(['nmcli', ...args], fields, expected);
}

/** One /run/NetworkManager/devices/IFINDEX file's keys (`managed`, `connection-uuid`, …); undefined when absent. */
export async function nmDeviceState(paths: Paths, ifindex: number): Promise<ReadonlyMap<string, string> | undefined> {
  const text = await readText(`${paths.networkManagerDevices}/${ifindex}`);
  if (text === undefined) return undefined;
  const keys = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('[')) keys.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return keys;
}

/** The path NetworkManager sees for one of ec2net's files: EC2NET_ROOT is what NetworkManager sees as /. */
export function nmView(paths: Paths, path: string): string {
  return path.slice(paths.root.length);
}

/** The interface's ifindex and MAC as the kernel shows them in sysfs; undefined when it is gone. */
async function sysfsLink(ifname: string): Promise<{ index: number; mac: string } | undefined> {
  const [index, mac] = await Promise.all([readText(`/sys/class/net/${ifname}/ifindex`), readText(`/sys/class/net/${ifname}/address`)]);
  return index === undefined || mac === undefined ? undefined : { index: Number(index.trim()), mac: mac.trim().toLowerCase() };
}

/**
 * NetworkManager: `nmcli connection up` activates ec2net's profile for the interface (NetworkManager's own DHCP
 * client runs in its process, so there is nothing to forget) and returns once the activation is done, so that no
 * address of the connection it replaces ("Wired connection N") is taken for the new lease. NetworkManager records
 * the connection a device runs in /run/NetworkManager/devices/IFINDEX (`connection-uuid`), which isRunning reads.
 * `device disconnect` keeps NetworkManager from activating the device again until ec2ifup does.
 */
export function nmcliActivator(paths: Paths): Activator {
  return {
    kind: 'nmcli',
    async up(ifname) {
      const link = await sysfsLink(ifname);
      if (!link) throw new Ec2netError('NoSuchInterface', 'no such interface', { iface: ifname });
      const up = () => nmcli(['--wait', String(NMCLI_WAIT_S), 'connection', 'up', 'uuid', nmUuid(link.mac), 'ifname', ifname], { iface: ifname }, [0, NMCLI_NOT_FOUND]);
      if ((await up()) !== NMCLI_NOT_FOUND) return;
      // NetworkManager does not know the profile: a run that wrote it ended before loading it (the file is written
      // only when it changes, so no later run would load it). It is loaded now.
      const profile = nmView(paths, nmProfilePath({ runConnections: paths.nmRunConnections }, link.mac));
      await nmcli(['connection', 'load', profile], { iface: ifname, path: profile });
      if ((await up()) === NMCLI_NOT_FOUND) throw new Ec2netError('PluginFailure', "NetworkManager knows neither ec2net's profile nor the device", { iface: ifname, path: profile });
    },
    async isRunning(ifname) {
      const link = await sysfsLink(ifname);
      const state = link && (await nmDeviceState(paths, link.index));
      return link !== undefined && state?.get('connection-uuid') === nmUuid(link.mac);
    },
    down: async (ifname) => {
      await nmcli(['device', 'disconnect', ifname], { iface: ifname }, [0, NMCLI_NOT_ACTIVE]);
    },
    forget: async () => undefined,
  };
}

/**
 * The ifcfg backend's activator. initscripts ships ifup-eth beside the ifcfg files it reads; Debian's ifupdown
 * `ifup` is something else.
 */
export async function chooseActivator(mode: ActivationMode, paths: Paths, dhclientScript: string): Promise<Activator> {
  const dhclient = async () => dhclientActivator(paths, dhclientScript, dhclientScript === PACKAGED_DHCLIENT_SCRIPT && (await systemdRuns(paths)));
  if (mode === 'dhclient') return dhclient();
  const initscripts = await exists(`${paths.networkScripts}/ifup-eth`);
  if (mode === 'ifup' && !initscripts) {
    throw new Ec2netError('InvalidArgument', 'ACTIVATION=ifup but initscripts is not installed', { path: `${paths.networkScripts}/ifup-eth` });
  }
  return initscripts ? ifupActivator() : dhclient();
}
