/**
 * What ec2net holds per ENI, read from the kernel (not from what it believes it applied) and its records. The
 * daemon adds what only it knows: drift seen, last refresh, last error.
 */
import { isEc2netError } from '../errors.js';
import { isLinkLocal6 } from '../model/ipv6.js';
import { MAIN_TABLE, describeRoute, describeRule, type Link } from '../model/state.js';
import { parseEniId } from '../model/validate.js';
import { eniOfTable } from '../planner/numbering.js';
import { askControl, controlPath } from '../ports/control.js';
import type { KernelSnapshot } from '../ports/kernel.js';
import type { EniRecord } from '../reconcile/record.js';
import type { AgentContext } from './context.js';
import { readRecords } from './detach.js';

export interface DaemonFacts {
  readonly driftSeen: number;
  readonly lastDriftAt?: number;
  readonly lastRefresh?: number;
  readonly lastError?: { at: number; kind: string; message: string };
}

export interface InterfaceStatus {
  /** "" when no link holds the table's routes (the device is gone, its rules stay until a cleanup). */
  readonly ifname: string;
  /** Absent where not known: status without root reads the kernel only, and a gone device has no MAC. */
  readonly mac?: string;
  /** Absent where not known; without root it is read from the link's `eni-…` altname, which ec2ifup gives it. */
  readonly eniId?: string;
  readonly deviceNumber: number;
  readonly networkCard: number;
  readonly table: number;
  readonly primary: boolean;
  /** Whether a device with this MAC is present now. */
  readonly present: boolean;
  /** Taken down by ec2ifdown: left alone until ec2ifup. */
  readonly down: boolean;
  /** Left to another agent: the UNMANAGED word in ec2net.conf that matched. */
  readonly unmanaged?: string;
  readonly addresses: string[];
  readonly rules: string[];
  readonly routes: string[];
  readonly daemon?: DaemonFacts;
}

/** What `ec2net status` shows. */
export interface StatusReport {
  /** Undefined when it cannot be known: the daemon's socket is under /run/ec2net, root's only. */
  readonly daemonRunning: boolean | undefined;
  /** The daemon's own figures, when it answered. */
  readonly daemon?: unknown;
  readonly interfaces: readonly InterfaceStatus[];
  /** What this run could not read without root, and so does not show; absent when it read everything. */
  readonly needsRoot?: readonly string[];
}

/** What status cannot show without root: everything that lives in /run/ec2net (0700, root's). */
export const NEEDS_ROOT: readonly string[] = [
  'whether ec2netd runs, and its drift, refresh and last-error facts (its socket is in /run/ec2net)',
  "ENIs without rules or routes: those ec2ifdown took down (DOWN) and those UNMANAGED leaves to another agent (ec2net's records in /run/ec2net/state)",
];

/** What the kernel holds of one ENI: ec2net's rules and routes of its table, and the addresses on its link. */
function held(snap: KernelSnapshot, protocol: number, table: number, link: Link | undefined): Pick<InterfaceStatus, 'addresses' | 'rules' | 'routes'> {
  return {
    // The kernel's own link-local address on every link is not the ENI's.
    addresses: snap.addresses.filter((a) => link && a.dev === link.name && !isLinkLocal6(a.address)).map((a) => a.address).sort(),
    rules: snap.rules.filter((x) => x.protocol === protocol && x.table === table).map(describeRule).sort(),
    routes: snap.routes
      .filter((x) => x.protocol === protocol && (x.table === table || (x.table === MAIN_TABLE && link && x.dev === link.name)))
      .map(describeRoute)
      .sort(),
  };
}

/** Each ENI ec2net recorded, as the kernel holds it now. */
export async function interfaceStatus(ctx: AgentContext, facts: ReadonlyMap<string, DaemonFacts> = new Map()): Promise<InterfaceStatus[]> {
  const [records, snap] = await Promise.all([readRecords(ctx), ctx.kernel.snapshot()]);
  return recordedStatus(records, snap, ctx.config.settings.protocol, facts);
}

/** Each recorded ENI as the snapshot shows it, with what the daemon knows of it. Pure. */
function recordedStatus(records: EniRecord[], snap: KernelSnapshot, protocol: number, facts: ReadonlyMap<string, DaemonFacts>): InterfaceStatus[] {
  return records
    .sort((a, b) => a.table - b.table)
    .map((r) => {
      const link = snap.links.find((l) => l.mac === r.mac);
      const daemon = facts.get(r.mac);
      return {
        ifname: link?.name ?? r.ifname,
        mac: r.mac,
        eniId: r.eniId,
        deviceNumber: r.deviceNumber,
        networkCard: r.networkCard,
        table: r.table,
        primary: r.primary,
        present: link !== undefined,
        down: r.down === true,
        ...(r.unmanaged !== undefined ? { unmanaged: r.unmanaged } : {}),
        ...held(snap, protocol, r.table, link),
        ...(daemon ? { daemon } : {}),
      };
    });
}

/**
 * The ENIs as the kernel alone shows them, for a run without ec2net's records (not root): one per routing table
 * that holds a rule or route of ec2net's, on the link its routes name; device and card from the table number
 * (numbering.ts), the ENI id from the link's `eni-…` altname. Pure.
 */
export function kernelStatus(snap: KernelSnapshot, protocol: number): InterfaceStatus[] {
  const ours = [...snap.rules, ...snap.routes].filter((x) => x.protocol === protocol && x.table !== MAIN_TABLE);
  return [...new Set(ours.map((x) => x.table))]
    .sort((a, b) => a - b)
    .flatMap((t) => {
      const eni = eniOfTable(t);
      return eni ? [{ t, ...eni }] : [];
    })
    .map(({ t, networkCard, deviceNumber }) => {
      const dev = snap.routes.find((r) => r.protocol === protocol && r.table === t)?.dev;
      const link = snap.links.find((l) => l.name === dev);
      const eniId = link?.altnames.find((a) => parseEniId(a) !== undefined);
      return {
        ifname: link?.name ?? '',
        ...(link ? { mac: link.mac } : {}),
        ...(eniId ? { eniId } : {}),
        deviceNumber,
        networkCard,
        table: t,
        // Device 0 on card 0 is the primary ENI's, and only the primary's (DESIGN.md, "IMDS facts").
        primary: networkCard === 0 && deviceNumber === 0,
        present: link !== undefined,
        down: false,
        ...held(snap, protocol, t, link),
      };
    });
}

/**
 * `ec2net status`: the daemon's view when it runs, else computed here from the records and the kernel; without
 * root (the records and the daemon's socket are under /run/ec2net, root's only), the kernel's alone, saying so.
 */
export async function statusReport(ctx: AgentContext): Promise<StatusReport> {
  const protocol = ctx.config.settings.protocol;
  let records: EniRecord[];
  try {
    records = await readRecords(ctx);
  } catch (e) {
    if (!isEc2netError(e, 'PermissionDenied')) throw e;
    return { daemonRunning: undefined, interfaces: kernelStatus(await ctx.kernel.snapshot(), protocol), needsRoot: NEEDS_ROOT };
  }
  const answer = (await askControl(controlPath(ctx.paths.runDir), 'status')) as { daemon?: unknown; interfaces?: InterfaceStatus[] } | undefined;
  if (Array.isArray(answer?.interfaces)) return { daemonRunning: true, daemon: answer?.daemon, interfaces: answer.interfaces };
  return { daemonRunning: false, interfaces: recordedStatus(records, await ctx.kernel.snapshot(), protocol, new Map()) };
}

export function formatStatus(report: StatusReport): string {
  const daemon = report.daemonRunning === undefined ? 'unknown (its socket is root\'s)' : report.daemonRunning ? 'running' : 'not running (computed directly)';
  const lines = [`daemon: ${daemon}`];
  if (report.needsRoot) {
    lines.push('not root: shown as the kernel holds it; run as root for the rest:', ...report.needsRoot.map((n) => `  - ${n}`));
  }
  for (const s of report.interfaces) {
    const marks = [
      s.primary ? '  primary' : '',
      s.present ? '' : '  (device gone)',
      s.down ? '  DOWN (ec2ifdown; ec2ifup brings it back)' : '',
      s.unmanaged !== undefined ? `  UNMANAGED (UNMANAGED=${s.unmanaged} in ec2net.conf)` : '',
    ].join('');
    lines.push('', `${s.ifname || '-'}  ${s.eniId ?? '-'}  mac ${s.mac ?? '-'}  device ${s.deviceNumber} card ${s.networkCard}  table ${s.table}${marks}`);
    lines.push(`  addresses: ${s.addresses.join(', ') || '-'}`);
    for (const r of s.rules) lines.push(`  rule   ${r}`);
    for (const r of s.routes) lines.push(`  route  ${r}`);
    if (s.daemon) {
      const at = (t?: number) => (t === undefined ? '-' : new Date(t).toISOString());
      lines.push(`  last refresh: ${at(s.daemon.lastRefresh)}  drift seen: ${s.daemon.driftSeen} (last ${at(s.daemon.lastDriftAt)})`);
      if (s.daemon.lastError) lines.push(`  last error: ${at(s.daemon.lastError.at)} ${s.daemon.lastError.kind}: ${s.daemon.lastError.message}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
