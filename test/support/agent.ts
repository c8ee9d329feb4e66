/**
 * Glue between the simulated VPC and the agent under test: the three-ENI instance of the core tests and the
 * demo, running the built CLI inside the instance namespace, and reading the kernel state back with `ip -j`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pathsFor } from '../../src/config.js';
import type { EniSpec, RunOptions, RunResult, Vpc } from '../vpc/vpc.js';
import { LogRecords } from './log-records.js';
import { unitEnvironment, unitNodeFlags } from './unit-env.js';

const CLI = fileURLToPath(new URL('../../src/cli/', import.meta.url));

export const ENI0: EniSpec = { id: 'eni-0000000000000a000', mac: '02:ec:00:00:00:10', ifname: 'eth0', subnet: 's1', deviceNumber: 0, ipv4s: ['10.0.1.10'] };
export const ENI1: EniSpec = { id: 'eni-0000000000000a001', mac: '02:ec:00:00:00:11', ifname: 'eth1', subnet: 's2', deviceNumber: 1, ipv4s: ['10.0.2.10', '10.0.2.11', '10.0.2.12'] };
export const ENI2: EniSpec = {
  id: 'eni-0000000000000a002',
  mac: '02:ec:00:00:00:12',
  ifname: 'eth2',
  subnet: 's1',
  deviceNumber: 2,
  ipv4s: ['10.0.1.20', '10.0.1.21'],
  ipv4Prefixes: ['10.0.1.48/28'],
};
export const SUBNETS = [
  { name: 's1', cidr: '10.0.1.0/24' },
  { name: 's2', cidr: '10.0.2.0/24' },
];

/** Two dual-stack subnets and an IPv6-only one, for the IPv6 tests. */
export const DUAL_SUBNETS = [
  { name: 'd1', cidr: '10.0.1.0/24', ipv6Cidr: '2001:db8:1::/64' },
  { name: 'd2', cidr: '10.0.2.0/24', ipv6Cidr: '2001:db8:2::/64' },
  { name: 'o6', ipv6Cidr: '2001:db8:3::/64' },
];

export function prefixAddresses(cidr: string): string[] {
  const [base, len] = cidr.split('/') as [string, string];
  const octets = base.split('.').map(Number) as [number, number, number, number];
  return Array.from({ length: 2 ** (32 - Number(len)) }, (_, i) => `${octets[0]}.${octets[1]}.${octets[2]}.${octets[3] + i}`);
}

/** Every address an ENI should answer on once configured (with its IPv4 prefixes provisioned or not). */
export function addressesOf(eni: EniSpec, withPrefixes = false): string[] {
  return [...eni.ipv4s, ...(withPrefixes ? (eni.ipv4Prefixes ?? []).flatMap(prefixAddresses) : [])];
}

/**
 * A fresh file tree for EC2NET_ROOT, shaped like Amazon Linux 2's: initscripts' ifcfg directory exists, so the
 * ifcfg backend writes its files there. `{ ifcfgDir: false }`: shaped like Debian's, where nothing reads ifcfg files.
 */
export function newRoot(opts: { ifcfgDir?: boolean } = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'ec2net-root-'));
  if (opts.ifcfgDir ?? true) mkdirSync(pathsFor(root).networkScripts, { recursive: true });
  return root;
}

/**
 * The argv that runs one of the agent's commands: the built checkout's entry point, or the packaged bundle when
 * EC2NET_BUNDLE names one (`node ec2net.cjs COMMAND ...`), so the same tests and benchmark can run either.
 */
export function commandArgv(command: string): string[] {
  const bundle = process.env.EC2NET_BUNDLE;
  return bundle ? [process.execPath, bundle, command] : [process.execPath, `${CLI}${command}.js`];
}

/** Runs a command as nobody: uid and gid 65534, no supplementary groups. */
const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];

export type AgentCommand = 'ec2ifup' | 'ec2ifdown' | 'ec2ifscan' | 'ec2net';
/** Runs argv where the agent should run: the instance namespace, or a harness's namespaces (networkd's, NetworkManager's). */
export type Exec = (argv: readonly string[], opts: RunOptions) => Promise<RunResult>;

/**
 * Runs one of the agent's commands in the instance namespace, with its files under `root`; as nobody with
 * `unprivileged` (root's files and directories then need modes that let others read what they should).
 */
export function agent(vpc: Vpc, root: string, command: AgentCommand, args: string[] = [], opts: { unprivileged?: boolean } = {}): Promise<RunResult> {
  return agentIn((argv, o) => vpc.exec('instance', argv, o), vpc, root, command, [...(opts.unprivileged ? AS_NOBODY : [])], args);
}

/** Runs one of the agent's commands through `exec` (after the `wrapper` argv, if any), with its files under `root`. */
export function agentIn(exec: Exec, vpc: Vpc, root: string, command: AgentCommand, wrapper: string[], args: string[] = []): Promise<RunResult> {
  return exec([...wrapper, ...commandArgv(command), ...args], {
    env: { EC2NET_ROOT: root, EC2NET_IMDS_URL: vpc.imdsUrl, EC2NET_LOG_LEVEL: 'info' },
    timeoutMs: 120_000,
  });
}

/**
 * `run` and `ok` (which must succeed) for the agent's commands through a harness's exec; `at` is read at each call,
 * as the harness starts in before().
 */
export function agentVia(at: () => { exec: Exec; vpc: Vpc; root: string }) {
  const run = (command: AgentCommand, args: string[] = []): Promise<RunResult> => {
    const { exec, vpc, root } = at();
    return agentIn(exec, vpc, root, command, [], args);
  };
  const ok = async (command: AgentCommand, args: string[] = []): Promise<RunResult> => succeeded(await run(command, args), `${command} ${args.join(' ')}`);
  return { run, ok };
}

/** `ip ARGS` in the instance namespace, which must succeed: its output lines, trimmed, each run of blanks one space. */
export async function ipLines(vpc: Vpc, ...args: string[]): Promise<string[]> {
  const r = await vpc.exec('instance', ['ip', ...args]);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '');
}

/** The ENIs' private IPv4 and IPv6 addresses (not their prefixes). */
export function everyAddress(enis: EniSpec[]): string[] {
  return enis.flatMap((e) => [...e.ipv4s, ...(e.ipv6s ?? [])]);
}

/** The exit of a command that must succeed, with its log in the assertion message when it does not. */
export function succeeded(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr}`);
  return r;
}

export interface IpRule {
  priority: number;
  src?: string;
  srclen?: number;
  table?: string;
  protocol?: string;
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  metric?: number;
  protocol?: string;
  prefsrc?: string;
}

async function ipJson<T>(vpc: Vpc, args: string[]): Promise<T> {
  const r = await vpc.exec('instance', ['ip', '-N', '-j', ...args]);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as T;
}

/** `ip -N rule` as lines "PRIORITY from SRC/LEN lookup TABLE proto P" (numbers throughout), sorted. */
export async function ruleLines(vpc: Vpc): Promise<string[]> {
  const rules = await ipJson<IpRule[]>(vpc, ['-4', 'rule', 'show']);
  return rules
    .map((r) => {
      const src = r.src === undefined || r.src === 'all' ? 'all' : `${r.src}/${r.srclen ?? 32}`;
      return `${r.priority} from ${src} lookup ${r.table} proto ${r.protocol ?? 0}`;
    })
    .sort();
}

/** `ip -N route show table all` (unicast, not the local table) as lines with numeric tables and protocols, sorted. */
export async function routeLines(vpc: Vpc): Promise<string[]> {
  const routes = await ipJson<(IpRoute & { type?: string })[]>(vpc, ['-4', 'route', 'show', 'table', 'all']);
  return routes
    .filter((r) => r.table !== '255' && (r.type === undefined || r.type === 'unicast'))
    .map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev} table ${r.table ?? 254}${r.metric ? ` metric ${r.metric}` : ''}${r.prefsrc ? ` src ${r.prefsrc}` : ''} proto ${r.protocol}`)
    .sort();
}

/** The IPv4 addresses on one interface, as "A.B.C.D/N", sorted. */
export async function addressLines(vpc: Vpc, dev: string): Promise<string[]> {
  // Both families; the kernel's own IPv6 link-local address is not an ENI address.
  const links = await ipJson<{ addr_info?: { family: string; local: string; prefixlen: number }[] }[]>(vpc, ['addr', 'show', 'dev', dev, 'scope', 'global']);
  // `ip -j` prints an empty object for each address the scope filter left out.
  return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.local !== undefined).map((a) => `${a.local}/${a.prefixlen}`)).sort();
}

export async function kernelSnapshot(vpc: Vpc, devs: string[]) {
  return {
    rules: await ruleLines(vpc),
    routes: await routeLines(vpc),
    addresses: Object.fromEntries(await Promise.all(devs.map(async (d) => [d, await addressLines(vpc, d)] as const))),
  };
}

/** Addresses that answered, and those that did not. */
export async function reach(vpc: Vpc, addrs: string[]): Promise<{ ok: string[]; failed: string[] }> {
  const result = await vpc.reachable(addrs);
  return { ok: addrs.filter((a) => result.get(a)), failed: addrs.filter((a) => !result.get(a)) };
}

export interface RunningDaemon {
  readonly pid: number;
  /** Every log record so far, parsed. */
  readonly records: Record<string, unknown>[];
  /** Resolves with the first record (from now on, or already seen when `seen` is true) that matches. */
  waitFor(match: (r: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

/**
 * Starts ec2netd in the instance namespace (as a child of this process, killed with the sandbox at the latest), as
 * its unit runs it: with ec2netd.service's node flags and Environment= (node and malloc settings), then `env`.
 * `enter` puts it into namespaces of a harness's (NetworkManager's private mounts); it must exec the daemon, so that
 * the child's pid is the daemon's.
 */
export function startDaemon(vpc: Vpc, root: string, env: Record<string, string> = {}, enter = (argv: string[]) => ['ip', 'netns', 'exec', vpc.instanceNs, ...argv]): RunningDaemon {
  const [node, ...rest] = commandArgv('ec2netd');
  const [program, ...args] = enter([node as string, ...unitNodeFlags('ec2netd.service'), ...rest]);
  const child = spawn(program as string, args, {
    env: { ...process.env, ...unitEnvironment('ec2netd.service'), EC2NET_ROOT: root, EC2NET_IMDS_URL: vpc.imdsUrl, EC2NET_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = new LogRecords(child.stderr);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return {
    pid: child.pid ?? -1,
    records: log.records,
    exited,
    waitFor(match, timeoutMs = 30_000) {
      return log.next(match, timeoutMs).then((r) => {
        if (r) return r;
        throw new Error(`daemon log: no matching record within ${timeoutMs} ms; last: ${log.records.slice(-5).map((x) => JSON.stringify(x)).join('\n')}`);
      });
    },
    async kill(signal = 'SIGTERM') {
      // `ip netns exec` and nsenter exec the program, so the child's pid is the daemon's.
      child.kill(signal);
      return exited;
    },
  };
}

/** Polls until `check` passes (returns without throwing) or the bound runs out; rethrows the last failure. */
export async function eventually(check: () => Promise<void>, timeoutMs = 20_000, intervalMs = 250): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await check();
      return Date.now() - started;
    } catch (e) {
      if (Date.now() - started > timeoutMs) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
