/**
 * What happens to one ENI between its attach and the moment every address answers, from the kernel's and the
 * wire's own timestamps: `ip -ts monitor link address rule` in the instance namespace (each notification stamped
 * as it is read), `tcpdump -tt` in the VPC namespace (each DHCP packet stamped by the kernel as it crossed the
 * bridge), and reach-clock.js in the remote namespace (each address's first completed handshake, a fresh attempt
 * every 10 ms). All are wall-clock times of this machine, in milliseconds since the epoch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Vpc } from './vpc.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REACH_CLOCK = join(HERE, 'reach-clock.js');
/** How often reach-clock tries each address afresh. */
export const REACH_EVERY_MS = 10;
const READY_TIMEOUT_MS = 10_000;

export interface Phases {
  /** The device appeared in the instance (its first RTM_NEWLINK there). */
  readonly attach: number;
  readonly linkUp?: number;
  readonly discover?: number;
  readonly ack?: number;
  /** DHCP's address on the link. */
  readonly address?: number;
  /** The last of the ENI's source rules in place. */
  readonly rules?: number;
  /** The last address's first completed handshake from the remote host. */
  readonly reachable?: number;
  /** Addresses not reached within the timeout. */
  readonly unreached: readonly string[];
}

interface Watcher {
  readonly out: string[];
  ready: Promise<void>;
  stop(): Promise<void>;
  done: Promise<void>;
}

/** Runs argv in a namespace, collecting stdout lines; `ready` resolves at the first line that matches. */
function watch(ns: string, argv: readonly string[], readyOn: RegExp | undefined): Watcher {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  let partial = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    if (!readyOn) resolve();
    setTimeout(() => reject(new Error(`${argv[0]} not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS).unref();
  });
  const onData = (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      out.push(line);
      if (readyOn?.test(line)) markReady();
    }
  };
  child.stdout?.setEncoding('utf8').on('data', onData);
  child.stderr?.setEncoding('utf8').on('data', onData);
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    out,
    ready,
    done,
    async stop() {
      child.kill('SIGTERM');
      await done;
      if (partial) out.push(partial);
    },
  };
}

/** `[2026-12-04T17:45:21.046295] …` (local time, to the microsecond) → ms since the epoch. */
function monitorTime(line: string): number | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\]/.exec(line);
  if (!m) return undefined;
  return new Date(m[1] as string).getTime() + Number(m[2]) / 1000;
}

export interface TimelineSpec {
  readonly ifname: string;
  readonly mac: string;
  readonly primary: string;
  readonly addresses: readonly string[];
  readonly timeoutMs?: number;
}

/**
 * Starts the watchers for one ENI about to be attached; resolves once they all run. `finish()` waits for every
 * address to answer (or the timeout), stops the watchers and returns the phases.
 */
export async function startTimeline(vpc: Vpc, spec: TimelineSpec): Promise<{ finish(): Promise<Phases> }> {
  const monitor = watch(vpc.instanceNs, ['ip', '-ts', 'monitor', 'link', 'address', 'rule'], undefined);
  // --immediate-mode: each packet as it comes, not in blocks a timeout flushes (a run over before the flush would
  // lose them when tcpdump is stopped).
  const capture = watch(vpc.vpcNs, ['tcpdump', '-i', 'any', '-n', '-l', '--immediate-mode', '-tt', '-v', 'udp port 67 or udp port 68'], /listening on/);
  const reach = watch(
    vpc.remoteNs,
    [process.execPath, REACH_CLOCK, '--port', String(vpc.echoPort), '--every', String(REACH_EVERY_MS), '--timeout', String(spec.timeoutMs ?? 60_000), ...spec.addresses],
    /^ready$/,
  );
  await Promise.all([capture.ready, reach.ready]);
  // ip monitor prints nothing until something happens: give it a moment to have joined its groups.
  await new Promise((r) => setTimeout(r, 100));
  return {
    async finish() {
      await reach.done;
      await Promise.all([monitor.stop(), capture.stop()]);
      return phasesOf(spec, monitor.out, capture.out, reach.out);
    },
  };
}

export function phasesOf(spec: TimelineSpec, monitorLines: readonly string[], captureLines: readonly string[], reachLines: readonly string[]): Phases {
  let attach: number | undefined;
  let linkUp: number | undefined;
  let address: number | undefined;
  const ruleAt = new Map<string, number>();
  const wanted = new Set(spec.addresses);
  for (const line of monitorLines) {
    const t = monitorTime(line);
    if (t === undefined) continue;
    const rest = line.slice(line.indexOf(']') + 2);
    if (rest.startsWith('Deleted')) continue;
    const link = new RegExp(`^\\d+: ${spec.ifname}(?:@\\S+)?: <([^>]*)>`).exec(rest);
    if (link) {
      attach ??= t;
      const flags = (link[1] as string).split(',');
      if (linkUp === undefined && flags.includes('UP') && flags.includes('LOWER_UP')) linkUp = t;
      continue;
    }
    if (address === undefined && new RegExp(`^\\d+: ${spec.ifname}\\s+inet ${spec.primary.replace(/\./g, '\\.')}/`).test(rest)) address = t;
    const rule = /^\d+:\s+from (\S+) lookup/.exec(rest);
    if (rule && wanted.has(rule[1] as string) && !ruleAt.has(rule[1] as string)) ruleAt.set(rule[1] as string, t);
  }
  // tcpdump -tt -v: a packet starts with its kernel timestamp; its DHCP type and client MAC follow on later lines.
  let discover: number | undefined;
  let ack: number | undefined;
  let at: number | undefined;
  let ours = false;
  for (const line of captureLines) {
    const head = /^(\d+\.\d{6}) /.exec(line);
    if (head) {
      at = Number(head[1]) * 1000;
      ours = false;
      continue;
    }
    if (line.includes(`Client-Ethernet-Address ${spec.mac}`)) ours = true;
    const type = /DHCP-Message \(53\), length 1: (\w+)/.exec(line)?.[1];
    if (!ours || at === undefined || !type) continue;
    if (type === 'Discover') discover ??= at;
    if (type === 'ACK') ack ??= at;
  }
  const reached = JSON.parse(reachLines.find((l) => l.startsWith('{')) ?? '{}') as Record<string, number | null>;
  const times = Object.values(reached);
  const unreached = Object.entries(reached).filter(([, v]) => v === null).map(([a]) => a);
  const rules = ruleAt.size === 0 ? undefined : Math.max(...ruleAt.values());
  if (attach === undefined) throw new Error(`ip monitor never saw ${spec.ifname} appear`);
  return {
    attach,
    ...(linkUp === undefined ? {} : { linkUp }),
    ...(discover === undefined ? {} : { discover }),
    ...(ack === undefined ? {} : { ack }),
    ...(address === undefined ? {} : { address }),
    ...(rules === undefined ? {} : { rules }),
    ...(times.length > 0 && unreached.length === 0 ? { reachable: Math.max(...(times as number[])) } : {}),
    unreached,
  };
}
