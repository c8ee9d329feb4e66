/**
 * Which manager owns the system's interfaces, and so which OS config ec2net writes (DESIGN.md, "Backends").
 * BACKEND in ec2net.conf overrides the detection.
 */
import { readdir } from 'node:fs/promises';
import type { BackendMode, Paths } from '../config.js';
import type { Link } from '../model/state.js';
import type { PlanInput } from '../planner/plan.js';
import { exists, readText } from '../ports/files.js';
import { adminFlags, type AdminFlags } from '../render/ifcfg-flags.js';
import { ifcfgPath } from '../render/ifcfg.js';
import { activeNetworkFile, networkdUnitPath, type NetworkFile } from '../render/networkd.js';
import type { AgentContext } from './context.js';

export type Backend = 'ifcfg' | 'networkd';

/**
 * networkd writes its runtime state file once it runs (netplan with the networkd renderer is networkd too);
 * otherwise the ifcfg backend, activated by initscripts' ifup where it is installed, else by dhclient.
 */
export async function detectBackend(paths: Paths, mode: BackendMode): Promise<Backend> {
  if (mode !== 'auto') return mode;
  return (await exists(`${paths.networkdState}/state`)) ? 'networkd' : 'ifcfg';
}

/** NetworkManager keeps a file per managed device, named by ifindex, under /run/NetworkManager/devices. */
export async function managedByNetworkManager(paths: Paths, link: Link): Promise<boolean> {
  return exists(`${paths.networkManagerDevices}/${link.index}`);
}

/**
 * networkd's .network files, one per name: a file in an earlier directory masks one of the same name later, and
 * a name masked with a symlink to /dev/null (not a regular file) is not read at all.
 */
export async function networkFiles(paths: Paths): Promise<NetworkFile[]> {
  const seen = new Set<string>();
  const files: NetworkFile[] = [];
  for (const dir of paths.networkDirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.network') && !seen.has(n))) {
      seen.add(name);
      const content = await readText(`${dir}/${name}`).catch(() => undefined);
      if (content !== undefined) files.push({ name, content });
    }
  }
  return files;
}

/** The other generator's file networkd picks before ours for this link, if any. */
export async function networkdShadow(paths: Paths, link: Link): Promise<string | undefined> {
  const ours = networkdUnitPath(paths, link.name).split('/').pop() as string;
  return activeNetworkFile(await networkFiles(paths), { ifname: link.name, mac: link.mac }, ours);
}

export interface OsFacts {
  readonly flags: AdminFlags;
  readonly backend: NonNullable<PlanInput['backend']>;
  /** Files read to learn these facts, by path (undefined: absent), so a caller comparing them reads none twice. */
  readonly read: ReadonlyMap<string, string | undefined>;
}

/** The admin's flags from ec2net.conf, for interfaces that have no ifcfg file to carry them. */
function configFlags(ctx: AgentContext): AdminFlags {
  return {
    ec2sync: true,
    mainRouteTable: ctx.config.mainRouteTable,
    provisionPrefixIps: ctx.config.provisionPrefixIps,
    provisionPrefixIpsValue: '',
    mainRouteTableValue: '',
  };
}

/**
 * The admin's flags and the backend's facts for one interface. networkd: the flags of ec2net.conf, and which
 * file networkd would read before our unit. ifcfg: the flags of the existing ifcfg-IF file, where the ifcfg
 * directory exists. It exists where initscripts (Amazon Linux 2) or the admin made it; nothing else reads
 * ifcfg files, so where it does not (Debian, Ubuntu) ec2net writes none and creates no such directory: the
 * interface is configured at runtime (kernel state, its own dhclient), and the flags come from ec2net.conf as
 * with networkd.
 */
export async function osFacts(ctx: AgentContext, link: Link): Promise<OsFacts> {
  if (ctx.backend === 'networkd') {
    const shadowedBy = await networkdShadow(ctx.paths, link);
    return { flags: configFlags(ctx), backend: { kind: 'networkd', ...(shadowedBy ? { shadowedBy } : {}) }, read: new Map() };
  }
  const path = ifcfgPath(ctx.paths, link.name);
  const text = await readText(path);
  if (text === undefined && !(await exists(ctx.paths.networkScripts))) {
    return { flags: configFlags(ctx), backend: { kind: 'ifcfg', files: false }, read: new Map([[path, text]]) };
  }
  return { flags: adminFlags(text, path), backend: { kind: 'ifcfg' }, read: new Map([[path, text]]) };
}
