/**
 * A backend is one network manager's way of holding an ENI's OS config (DESIGN.md, "Backends"): whether ec2net
 * manages the link at all, the admin's flags and the files for a plan, how DHCP and the link go up and down, and
 * what goes when the ENI is detached. The flows (ifup, ifdown, detach, the daemon's round) see only this
 * interface; BACKEND in ec2net.conf overrides the detection.
 */
import type { BackendKind, Config, Paths } from '../config.js';
import type { Link } from '../model/state.js';
import type { FileRenderer } from '../planner/plan.js';
import type { EniRecord } from '../reconcile/record.js';
import { nmDeviceState, type Activator } from '../ports/activation.js';
import { writeAtomic } from '../ports/files.js';
import type { AdminFlags } from '../render/ifcfg-flags.js';
import type { FileSpec } from '../render/files.js';

/** One interface as a backend sees it, read before planning; reading changes nothing. */
export interface InterfaceFacts {
  /** The admin's flags for this interface (EC2SYNC, MAINROUTETABLE, EC2PROVISIONPFXIPS or their ec2net.conf keys). */
  readonly flags: AdminFlags;
  /** How this interface's files are rendered (which files, and where). */
  readonly renderer: FileRenderer;
  /** Files read to learn these facts, by path (undefined: absent), so a caller comparing them reads none twice. */
  readonly read: ReadonlyMap<string, string | undefined>;
  /** Something the admin should know when the files are written, for the log. */
  readonly note?: { readonly message: string; readonly fields: Readonly<Record<string, unknown>> };
}

export interface Backend {
  readonly kind: BackendKind;
  /** Brings the interface's link and DHCP up and down the way this manager does. */
  readonly activator: Activator;
  /**
   * A written file makes the manager reconfigure the link in the background (networkd after a reload): what is
   * read back right after can still be changing.
   */
  readonly reconfiguresOnWrite: boolean;
  /** Why another manager owns this link, or undefined when ec2net configures it. */
  declines(link: Link): Promise<string | undefined>;
  facts(link: Link): Promise<InterfaceFacts>;
  /**
   * Writes a plan's files (atomically); when any changed, a manager that reads its files only when told (networkd)
   * is told. Returns whether any changed.
   */
  write(files: readonly FileSpec[]): Promise<boolean>;
  /**
   * Removes, among `paths` (files a previous run wrote for this MAC and this plan no longer has), those that are
   * still this backend's for the MAC; returns whether any went.
   */
  removeStale(paths: readonly string[], mac: string): Promise<boolean>;
  /** The ENI is detached (its device is gone): removes its files. Never called for the primary ENI. */
  cleanUp(record: EniRecord): Promise<void>;
}

/**
 * NetworkManager keeps a file per device, named by ifindex, under /run/NetworkManager/devices; a device it was told
 * to leave alone (`nmcli device set IF managed no`) keeps its file with `managed=false`.
 */
export async function managedByNetworkManager(paths: Paths, link: Link): Promise<boolean> {
  const state = await nmDeviceState(paths, link.index);
  return state !== undefined && state.get('managed') !== 'false';
}

/**
 * With BACKEND=auto, a link NetworkManager manages is left to it by the other backends (auto picks the
 * NetworkManager backend where NetworkManager runs, so this is a system where networkd runs too); a configured
 * BACKEND takes every link.
 */
export async function otherManager(paths: Paths, config: Config, link: Link): Promise<string | undefined> {
  if (config.backend !== 'auto' || !(await managedByNetworkManager(paths, link))) return undefined;
  return 'NetworkManager manages this interface (BACKEND=nm in ec2net.conf has ec2net configure it through NetworkManager)';
}

/** The admin's flags from ec2net.conf, for interfaces that have no ifcfg file to carry them. */
export function configFlags(config: Config): AdminFlags {
  return {
    ec2sync: true,
    mainRouteTable: config.mainRouteTable,
    provisionPrefixIps: config.provisionPrefixIps,
    provisionPrefixIpsValue: '',
    mainRouteTableValue: '',
  };
}

/** Writes each file atomically; returns whether any changed. */
export async function writeEach(files: readonly FileSpec[]): Promise<boolean> {
  // Together: each write waits on its own fsyncs, and the files do not depend on one another.
  const changed = await Promise.all(files.map((f) => writeAtomic(f)));
  return changed.includes(true);
}
