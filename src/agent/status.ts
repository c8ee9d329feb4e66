/**
 * What ec2net holds per ENI, read from the kernel (not from what it believes it applied) and its records. The
 * daemon adds what only it knows: drift seen, last refresh, last error.
 */
import { isLinkLocal6 } from '../model/ipv6.js';
import { MAIN_TABLE, describeRoute, describeRule } from '../model/state.js';
import type { AgentContext } from './context.js';
import { readRecords } from './detach.js';

export interface DaemonFacts {
  readonly driftSeen: number;
  readonly lastDriftAt?: number;
  readonly lastRefresh?: number;
  readonly lastError?: { at: number; kind: string; message: string };
}

export interface InterfaceStatus {
  readonly ifname: string;
  readonly mac: string;
  readonly eniId: string;
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

export async function interfaceStatus(ctx: AgentContext, facts: ReadonlyMap<string, DaemonFacts> = new Map()): Promise<InterfaceStatus[]> {
  const protocol = ctx.config.settings.protocol;
  const [records, { links, rules, routes, addresses }] = await Promise.all([readRecords(ctx), ctx.kernel.snapshot()]);
  return records
    .sort((a, b) => a.table - b.table)
    .map((r) => {
      const link = links.find((l) => l.mac === r.mac);
      const ifname = link?.name ?? r.ifname;
      const daemon = facts.get(r.mac);
      return {
        ifname,
        mac: r.mac,
        eniId: r.eniId,
        deviceNumber: r.deviceNumber,
        networkCard: r.networkCard,
        table: r.table,
        primary: r.primary,
        present: link !== undefined,
        down: r.down === true,
        ...(r.unmanaged !== undefined ? { unmanaged: r.unmanaged } : {}),
        // The kernel's own link-local address on every link is not the ENI's.
        addresses: addresses.filter((a) => link && a.dev === ifname && !isLinkLocal6(a.address)).map((a) => a.address).sort(),
        rules: rules.filter((x) => x.protocol === protocol && x.table === r.table).map(describeRule).sort(),
        routes: routes
          .filter((x) => x.protocol === protocol && (x.table === r.table || (x.table === MAIN_TABLE && link && x.dev === ifname)))
          .map(describeRoute)
          .sort(),
        ...(daemon ? { daemon } : {}),
      };
    });
}

export function formatStatus(list: readonly InterfaceStatus[], daemonRunning: boolean): string {
  const lines = [`daemon: ${daemonRunning ? 'running' : 'not running (computed directly)'}`];
  for (const s of list) {
    lines.push('', `${s.ifname}  ${s.eniId}  mac ${s.mac}  device ${s.deviceNumber} card ${s.networkCard}  table ${s.table}${s.primary ? '  primary' : ''}${s.present ? '' : '  (device gone)'}${s.down ? '  DOWN (ec2ifdown; ec2ifup brings it back)' : ''}${s.unmanaged !== undefined ? `  UNMANAGED (UNMANAGED=${s.unmanaged} in ec2net.conf)` : ''}`);
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
