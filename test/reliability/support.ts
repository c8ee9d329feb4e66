/**
 * Helpers shared by the reliability scenarios R3–R5: a seeded PRNG, killable agent runs, the processes started
 * under one EC2NET_ROOT, a walk of the files under that root, and the exact desired state of a set of ENIs written
 * out from the test's own model (never from the project's renderers or planner), compared with what the kernel and
 * the file system hold.
 */
import { spawn } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import type { EniSpec, Vpc } from '../vpc/vpc.js';
import { addressLines, commandArgv, routeLines, ruleLines } from '../support/agent.js';
import { LogRecords } from '../support/log-records.js';


export const PROTO = 236;
export const MAIN = 254;

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness

export { prng } from '../support/prng.js';

/** The seed from `EC2NET_SEED` (decimal or 0x hex) when set, else the fixed default: CI runs are reproducible. */
export function seedFromEnv(fallback: number): number {
  const raw = process.env.EC2NET_SEED;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`EC2NET_SEED must be a non-negative integer: ${raw}`);
  return n >>> 0;
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.floor(rand() * items.length)] as T;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// Agent processes we can kill

export interface AgentRun {
  readonly pid: number;
  readonly started: number;
  stderr(): string;
  stdout(): string;
  /** Log records parsed from stderr so far. */
  readonly records: Record<string, unknown>[];
  /** Resolves with the first record (already seen or to come) that matches, or undefined after timeoutMs. */
  waitFor(match: (r: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown> | undefined>;
  /** Exit code, or 128 + signal number. */
  readonly exited: Promise<{ code: number; ms: number }>;
  kill(signal?: NodeJS.Signals): void;
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15 };

/**
 * Runs one of the agent's commands in the instance namespace as a child we hold the pid of (`ip netns exec`
 * execs the program, so the pid is node's). A run still alive after `timeoutMs` is killed (exit 137).
 */
export function spawnAgent(
  vpc: Vpc,
  root: string,
  command: 'ec2ifup' | 'ec2ifdown' | 'ec2ifscan' | 'ec2net' | 'ec2netd',
  args: string[] = [],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): AgentRun {
  const started = Date.now();
  const child = spawn('ip', ['netns', 'exec', vpc.instanceNs, ...commandArgv(command), ...args], {
    env: { ...process.env, EC2NET_ROOT: root, EC2NET_IMDS_URL: vpc.imdsUrl, EC2NET_LOG_LEVEL: 'info', ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const log = new LogRecords(child.stderr);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const exited = new Promise<{ code: number; ms: number }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0), ms: Date.now() - started });
    }),
  );
  return {
    pid: child.pid ?? -1,
    started,
    records: log.records,
    stderr: () => log.text,
    stdout: () => out,
    exited,
    waitFor(match, timeoutMs) {
      const seen = log.records.find(match);
      return seen ? Promise.resolve(seen) : log.next(match, timeoutMs);
    },
    kill(signal = 'SIGKILL') {
      try {
        process.kill(child.pid ?? -1, signal);
      } catch {
        // already gone
      }
    },
  };
}

/** Runs a command to completion (bounded) and returns its exit code, output and duration. */
export async function runAgent(
  vpc: Vpc,
  root: string,
  command: Parameters<typeof spawnAgent>[2],
  args: string[] = [],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; ms: number; stderr: string; stdout: string }> {
  const run = spawnAgent(vpc, root, command, args, opts);
  const { code, ms } = await run.exited;
  return { code, ms, stderr: run.stderr(), stdout: run.stdout() };
}

// ---------------------------------------------------------------------------------------------------------------
// Processes under one root

export interface Proc {
  readonly pid: number;
  readonly args: string[];
}

/**
 * Every process started for this EC2NET_ROOT: its environment carries EC2NET_ROOT=root (the agent passes its
 * environment on to dhclient), or its argv names a path under root. The sandbox's PID namespace is shared by every
 * test file running at once, so nothing else may be counted.
 */
export function processesUnder(root: string): Proc[] {
  const marker = `EC2NET_ROOT=${root}\0`;
  const procs: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      if (args.length === 0) continue; // a zombie or a kernel thread
      const env = readFileSync(`/proc/${name}/environ`, 'utf8');
      if (`${env}\0`.includes(marker) || args.some((a) => a.startsWith(`${root}/`))) procs.push({ pid: Number(name), args });
    } catch {
      // gone meanwhile
    }
  }
  return procs;
}

export function isDhclient(p: Proc): boolean {
  return /(^|\/)dhclient$/.test(p.args[0] ?? '');
}

/** The interface a dhclient of ours runs on (its last argument). */
export function dhclientIface(p: Proc): string {
  return p.args.at(-1) ?? '';
}

export function dhclientsUnder(root: string): Proc[] {
  return processesUnder(root).filter(isDhclient);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Files under one root

export interface FileEntry {
  readonly rel: string;
  readonly kind: 'file' | 'socket' | 'fifo' | 'other';
  readonly size: number;
  readonly mode: number;
}

/** Every non-directory under root, by path relative to root, sorted. */
export function filesUnder(root: string): FileEntry[] {
  const out: FileEntry[] = [];
  const walk = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const full = `${dir}/${name}`;
      const r = rel === '' ? name : `${rel}/${name}`;
      let st;
      try {
        st = lstatSync(full);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(full, r);
      else out.push({ rel: r, kind: st.isFile() ? 'file' : st.isSocket() ? 'socket' : st.isFIFO() ? 'fifo' : 'other', size: st.size, mode: st.mode & 0o7777 });
    }
  };
  walk(root, '');
  return out;
}

/** The per-name lock sockets and guard files (src/ports/lock.ts). */
const LOCK_DIR = 'run/ec2net/lock/';
/** The atomic writer's temporary files: `.NAME.ec2net-PID.tmp`, or `.NAME.ec2net-PID-SEQ.tmp`. */
export const TMP_FILE = /(^|\/)\.[^/]+\.ec2net-[0-9-]+\.tmp$/;

// ---------------------------------------------------------------------------------------------------------------
// The desired state, from the test's own model

export interface ModelEni {
  readonly id: string;
  readonly mac: string;
  readonly ifname: string;
  /** e.g. 10.0.2.0/24 */
  readonly subnet: string;
  readonly deviceNumber: number;
  /** Primary first. */
  ipv4s: string[];
  prefixes: string[];
  readonly primary?: boolean;
}

export function modelOf(spec: EniSpec, subnets: readonly { name: string; cidr: string }[]): ModelEni {
  const subnet = subnets.find((s) => s.name === spec.subnet)?.cidr;
  if (!subnet) throw new Error(`no subnet ${spec.subnet}`);
  return {
    id: spec.id,
    mac: spec.mac,
    ifname: spec.ifname,
    subnet,
    deviceNumber: spec.deviceNumber,
    ipv4s: [...spec.ipv4s],
    prefixes: [...(spec.ipv4Prefixes ?? [])],
    primary: spec.deviceNumber === 0,
  };
}

export function specOf(e: ModelEni, subnetName: string): EniSpec {
  return { id: e.id, mac: e.mac, ifname: e.ifname, subnet: subnetName, deviceNumber: e.deviceNumber, ipv4s: [...e.ipv4s], ipv4Prefixes: [...e.prefixes] };
}

export const tableOf = (e: { deviceNumber: number }): number => 10000 + e.deviceNumber;

function gatewayOf(subnet: string): string {
  const [base] = subnet.split('/') as [string];
  const o = base.split('.').map(Number);
  return `${o[0]}.${o[1]}.${o[2]}.${(o[3] as number) + 1}`;
}

function dottedMask(subnet: string): string {
  const len = Number(subnet.split('/')[1]);
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join('.');
}

/** `ruleLines` format: "PRIORITY from SRC/LEN lookup TABLE proto P". */
export function expectedRules(e: ModelEni): string[] {
  if (e.primary) return [];
  const t = tableOf(e);
  return [...e.ipv4s.map((ip) => `${t} from ${ip}/32 lookup ${t} proto ${PROTO}`), ...e.prefixes.map((p) => `${t} from ${p} lookup ${t} proto ${PROTO}`)];
}

/** `routeLines` format. */
export function expectedRoutes(e: ModelEni): string[] {
  if (e.primary) return [];
  const t = tableOf(e);
  const gw = gatewayOf(e.subnet);
  return [
    `default via ${gw} dev ${e.ifname} table ${t} proto ${PROTO}`,
    `${e.subnet} dev ${e.ifname} table ${t} src ${e.ipv4s[0]} proto ${PROTO}`,
    `default via ${gw} dev ${e.ifname} table ${MAIN} metric ${t} proto ${PROTO}`,
  ];
}

export function expectedAddresses(e: ModelEni): string[] {
  const len = e.subnet.split('/')[1];
  return [`${e.ipv4s[0]}/${len}`, ...e.ipv4s.slice(1).map((ip) => `${ip}/32`)].sort();
}

/**
 * ifcfg-IF, route-IF and dhclient-IF.conf as ec2-net-utils v1 wrote them (DESIGN.md, "Backends"), literally, and the
 * run files of the dhclient ec2net starts.
 */
export function expectedFiles(e: ModelEni): Record<string, string> {
  if (e.primary) return {};
  const t = tableOf(e);
  const gw = gatewayOf(e.subnet);
  const [net] = e.subnet.split('/') as [string];
  const i = e.ifname;
  return {
    [`etc/sysconfig/network-scripts/ifcfg-${i}`]:
      `DEVICE=${i}\nBOOTPROTO=dhcp\nONBOOT=yes\nTYPE=Ethernet\nUSERCTL=yes\nPEERDNS=no\nIPV6INIT=yes\nDHCPV6C=yes\nDHCPV6C_OPTIONS=-nw\n` +
      `PERSISTENT_DHCLIENT=yes\nHWADDR=${e.mac}\nDEFROUTE=no\nEC2SYNC=yes\nEC2PROVISIONPFXIPS=\nMAINROUTETABLE=yes\n`,
    [`etc/sysconfig/network-scripts/route-${i}`]:
      `default via ${gw} dev ${i} table ${t}\n${net}/${dottedMask(e.subnet)} dev ${i} proto kernel scope link src ${e.ipv4s[0]} table ${t}\n` +
      `default via ${gw} dev ${i} metric ${t}\n`,
    [`etc/dhcp/dhclient-${i}.conf`]: 'supersede dhcp-server-identifier 255.255.255.255;\ntimeout 300;\n',
    // The dhclient ec2net runs itself reads its own copy, without the broadcast server identifier (README, DHCP).
    [`run/ec2net/dhclient-${i}.conf`]: 'timeout 300;\n',
    // What it was started with for its script: the lease's subnet route at the main-table metric (the table id here,
    // with the primary's routes at 0).
    [`run/ec2net/dhclient-${i}.env`]: `EC2NET_ROUTE_METRIC=${t}\n`,
  };
}

export const recordRel = (mac: string): string => `run/ec2net/state/${mac.replace(/:/g, '')}.json`;

export interface Expectation {
  readonly root: string;
  /** Every ENI attached now, the primary included. */
  readonly present: readonly ModelEni[];
  /** ENIs detached in this run, of which nothing may remain. */
  readonly gone: readonly ModelEni[];
  /** A daemon runs on this root (its socket is expected; it keeps a record of the primary ENI too). */
  readonly daemonPid?: number;
  /** Whether the primary ENI has a record (someone ran ec2ifup on it, or a daemon configured it). */
  readonly primaryRecord: boolean;
}

export const PERSISTENT_NAMES = 'etc/udev/rules.d/70-ec2net-persistent-net.rules';
const PERSISTENT_HEADER =
  '# ec2net: persistent ENI names, one line per MAC address, so that an ENI detached and attached again comes\n' +
  '# back with the name it had. ec2net writes this file. A line it does not recognise makes it refuse to rewrite\n' +
  '# the file rather than drop the line.\n';

export function persistentNameLine(mac: string, ifname: string): string {
  return `SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="${mac}", ATTR{type}=="1", NAME="${ifname}"`;
}

/**
 * The persistent-name rules (MAC → first name, kept across detach by design): the header, then one line per MAC
 * sorted by MAC. Every configured ENI must have its line; an ENI killed before it was named may lack one; no line
 * may name a MAC the test never attached, or a name other than the one it had.
 */
function persistentNameProblems(root: string, exp: Expectation): string[] {
  let text: string;
  try {
    text = readFileSync(`${root}/${PERSISTENT_NAMES}`, 'utf8');
  } catch {
    return [];
  }
  const problems: string[] = [];
  if (!text.startsWith(PERSISTENT_HEADER)) problems.push(`wrong content: ${PERSISTENT_NAMES}: header ${JSON.stringify(text.slice(0, 80))}`);
  const known = new Map([...exp.present, ...exp.gone].map((e) => [e.mac, e.ifname]));
  const lines = text.slice(PERSISTENT_HEADER.length).split('\n').filter((l) => l !== '');
  const macs: string[] = [];
  for (const l of lines) {
    const m = /ATTR\{address\}=="([^"]*)"/.exec(l);
    const mac = m?.[1] ?? '';
    const name = known.get(mac);
    if (name === undefined || l !== persistentNameLine(mac, name)) problems.push(`wrong content: ${PERSISTENT_NAMES}: line ${JSON.stringify(l)}`);
    macs.push(mac);
  }
  if (JSON.stringify(macs) !== JSON.stringify([...new Set(macs)].sort())) problems.push(`wrong content: ${PERSISTENT_NAMES}: not one line per MAC, sorted: ${macs.join(',')}`);
  for (const e of exp.present.filter((x) => !x.primary || exp.primaryRecord)) {
    if (!macs.includes(e.mac)) problems.push(`no persistent name for ${e.ifname} (${e.mac})`);
  }
  return problems;
}

function multisetDiff(label: string, have: readonly string[], want: readonly string[]): string[] {
  const problems: string[] = [];
  const count = (xs: readonly string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const h = count(have);
  const w = count(want);
  for (const [x, n] of h) {
    const m = w.get(x) ?? 0;
    if (m === 0) problems.push(`leaked ${label}: ${x}`);
    else if (n > m) problems.push(`duplicate ${label} (${n}x): ${x}`);
  }
  for (const [x] of w) if (!h.has(x)) problems.push(`missing ${label}: ${x}`);
  return problems;
}

/**
 * Everything that differs between what the kernel, the files and the processes under `root` hold and the exact
 * desired state of `present` (and the absence of `gone`). Empty when converged.
 */
export async function stateProblems(vpc: Vpc, exp: Expectation): Promise<string[]> {
  const problems: string[] = [];
  const secondaries = exp.present.filter((e) => !e.primary);

  // Rules and routes carrying our protocol: exactly the desired ones, each once.
  const rules = (await ruleLines(vpc)).filter((l) => l.endsWith(` proto ${PROTO}`));
  problems.push(...multisetDiff('rule', rules, exp.present.flatMap(expectedRules)));
  const routes = (await routeLines(vpc)).filter((l) => l.endsWith(` proto ${PROTO}`));
  problems.push(...multisetDiff('route', routes, exp.present.flatMap(expectedRoutes)));

  // Addresses on each present interface: the DHCP primary and exactly the secondaries.
  for (const e of exp.present) {
    let have: string[];
    try {
      have = await addressLines(vpc, e.ifname);
    } catch (err) {
      problems.push(`cannot read addresses of ${e.ifname}: ${(err as Error).message}`);
      continue;
    }
    problems.push(...multisetDiff(`address on ${e.ifname}`, have, expectedAddresses(e)));
  }
  // Nothing routes through a gone interface any more (the kernel took its routes; no rule may point at its table).
  for (const g of exp.gone) {
    for (const l of (await ruleLines(vpc)).filter((x) => x.includes(` lookup ${tableOf(g)} `))) problems.push(`rule of detached ${g.ifname}: ${l}`);
  }

  // Files: exactly the desired set, each with exactly the desired content; no temporary, partial or empty file.
  const files = filesUnder(exp.root);
  const want = new Map<string, string | undefined>();
  for (const e of secondaries) {
    for (const [rel, text] of Object.entries(expectedFiles(e))) want.set(rel, text);
    want.set(recordRel(e.mac), undefined);
    want.set(`run/ec2net/dhclient-${e.ifname}.pid`, undefined);
  }
  if (exp.primaryRecord) for (const e of exp.present.filter((x) => x.primary)) want.set(recordRel(e.mac), undefined);
  if (exp.daemonPid !== undefined) want.set('run/ec2net/ec2netd.sock', undefined);
  // dhclient writes its lease file once it has one: allowed, never required.
  const optional = new Set(secondaries.map((e) => `run/ec2net/dhclient-${e.ifname}.leases`));
  // Persistent names stay after a detach; checked on their own below.
  optional.add(PERSISTENT_NAMES);
  if (exp.present.some((e) => !e.primary || exp.primaryRecord) && !files.some((f) => f.rel === PERSISTENT_NAMES)) problems.push(`missing file: ${PERSISTENT_NAMES}`);
  problems.push(...persistentNameProblems(exp.root, exp));
  for (const f of files) {
    if (TMP_FILE.test(f.rel)) problems.push(`temporary file left: ${f.rel}`);
    // The lock directory (src/ports/lock.ts) keeps a guard file per name once a stale lock was recovered, and the
    // socket file of a run killed while it held a lock until the next run takes that lock: names, not state.
    else if (f.rel.startsWith(LOCK_DIR)) continue;
    else if (!want.has(f.rel) && !optional.has(f.rel)) problems.push(`unexpected file: ${f.rel}`);
    else if (f.kind === 'file' && f.size === 0 && !optional.has(f.rel)) problems.push(`empty file: ${f.rel}`);
  }
  for (const [rel, text] of want) {
    const f = files.find((x) => x.rel === rel);
    if (!f) {
      problems.push(`missing file: ${rel}`);
      continue;
    }
    if (text !== undefined) {
      const have = readFileSync(`${exp.root}/${rel}`, 'utf8');
      if (have !== text) problems.push(`wrong content: ${rel}: ${JSON.stringify(have)}`);
      if (f.mode !== 0o644) problems.push(`wrong mode: ${rel}: ${f.mode.toString(8)}`);
    }
  }
  // Records: valid JSON naming the ENI, its table and exactly the secondary addresses ec2net added.
  for (const e of exp.present) {
    const rel = recordRel(e.mac);
    if (!files.some((f) => f.rel === rel)) continue;
    try {
      const r = JSON.parse(readFileSync(`${exp.root}/${rel}`, 'utf8')) as Record<string, unknown>;
      const addrs = Array.isArray(r.addresses) ? [...(r.addresses as string[])].sort() : [];
      const wantAddrs = e.ipv4s.slice(1).map((ip) => `${ip}/32`).sort();
      if (r.mac !== e.mac || r.eniId !== e.id || r.ifname !== e.ifname || r.table !== tableOf(e) || r.primary !== Boolean(e.primary)) {
        problems.push(`wrong record: ${rel}: ${JSON.stringify(r)}`);
      }
      if (JSON.stringify(addrs) !== JSON.stringify(wantAddrs)) problems.push(`record addresses of ${e.ifname}: ${addrs.join(',')} (want ${wantAddrs.join(',')})`);
    } catch (err) {
      problems.push(`unreadable record: ${rel}: ${(err as Error).message}`);
    }
  }

  // Processes: one dhclient per present secondary ENI, none for anything else; no other process of ours.
  const procs = processesUnder(exp.root);
  const dhclients = procs.filter(isDhclient).map(dhclientIface);
  problems.push(...multisetDiff('dhclient', dhclients, secondaries.map((e) => e.ifname)));
  for (const p of procs) {
    if (isDhclient(p) || p.pid === exp.daemonPid) continue;
    // dhclient runs its script for a moment now and then (renewals): not a leftover.
    if (p.args.some((a) => a.endsWith('ec2net-dhclient-script'))) continue;
    problems.push(`leftover process ${p.pid}: ${p.args.join(' ').slice(0, 160)}`);
  }
  return problems.sort();
}

/** Whether any guarded test body of a scenario threw: its figures then report the outcome 'failed'. */
export class Outcome {
  failed = false;

  /** Wraps a test body so that a failure in it marks the scenario failed. */
  readonly guard = (fn: () => Promise<void>) => async (): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      this.failed = true;
      throw e;
    }
  };

  get value(): 'held' | 'failed' {
    return this.failed ? 'failed' : 'held';
  }
}
