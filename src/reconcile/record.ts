/**
 * The record of what the agent added to an ENI, kept under /run keyed by MAC. Addresses carry no owner in the
 * kernel (rules and routes carry our protocol number), so this record is what lets a later run remove a secondary
 * address the agent added without ever touching one someone else added.
 */
import { parseIfname, parseMac } from '../model/validate.js';
import { parseCidr4 } from '../model/ipv4.js';
import { parseCidr6 } from '../model/ipv6.js';

export interface EniRecord {
  readonly mac: string;
  readonly eniId: string;
  readonly ifname: string;
  readonly table: number;
  readonly deviceNumber: number;
  readonly networkCard: number;
  /** The instance's primary ENI: never deactivated by ec2ifdown. */
  readonly primary: boolean;
  /** False from the start of a run until it has verified the kernel state: ec2ifscan configures it again. */
  readonly converged: boolean;
  readonly addresses: readonly string[];
  /** The OS config files written for this ENI, removed again when it is detached. */
  readonly files?: readonly string[];
  /**
   * Taken down by ec2ifdown: the daemon leaves the interface alone (no repair, refresh or hotplug configure) until
   * ec2ifup configures it again or the ENI is detached.
   */
  readonly down?: boolean;
  /**
   * Left to another agent by UNMANAGED in ec2net.conf: the word that matched. Nothing is configured; what earlier
   * runs added stays listed, for a detach to clean up.
   */
  readonly unmanaged?: string;
}

export function recordPath(stateDir: string, mac: string): string {
  return `${stateDir}/${mac.replace(/:/g, '')}.json`;
}

export function renderRecord(r: EniRecord): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/** A record that fails validation is treated as absent: the caller then owns no addresses, the safe side. */
export function parseRecord(text: string | undefined): EniRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const mac = typeof v.mac === 'string' ? parseMac(v.mac) : undefined;
    const ifname = typeof v.ifname === 'string' ? parseIfname(v.ifname) : undefined;
    const addresses = Array.isArray(v.addresses) ? v.addresses : [];
    const numbers = [v.table, v.deviceNumber, v.networkCard];
    if (!mac || !ifname || typeof v.eniId !== 'string' || typeof v.primary !== 'boolean') return undefined;
    if (!numbers.every((n): n is number => Number.isInteger(n) && (n as number) >= 0)) return undefined;
    if (!addresses.every((a): a is string => typeof a === 'string' && (parseCidr4(a, false) ?? parseCidr6(a, false)) !== undefined)) return undefined;
    const files = Array.isArray(v.files) ? v.files : [];
    if (!files.every((f): f is string => typeof f === 'string' && f.startsWith('/') && !f.includes('/../'))) return undefined;
    const [table, deviceNumber, networkCard] = numbers as [number, number, number];
    return {
      mac, ifname, eniId: v.eniId, table, deviceNumber, networkCard, primary: v.primary, converged: v.converged === true, addresses, files,
      ...(v.down === true ? { down: true } : {}),
      ...(typeof v.unmanaged === 'string' && v.unmanaged.length > 0 && v.unmanaged.length <= 64 ? { unmanaged: v.unmanaged } : {}),
    };
  } catch {
    return undefined;
  }
}
