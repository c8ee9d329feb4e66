/**
 * The networkd backend (AL2023, systemd distributions; netplan with the networkd renderer): one .network unit per
 * ENI under /run/systemd/network, or a drop-in for another generator's file that networkd reads first, activated
 * with networkctl. networkd's own DHCP client installs the main-table default routes from the unit.
 */
import { readdir } from 'node:fs/promises';
import type { Config, Paths } from '../config.js';
import type { Link } from '../model/state.js';
import { NETWORKD_METRIC_BASE } from '../planner/numbering.js';
import type { FileRenderer } from '../planner/plan.js';
import type { Activator } from '../ports/activation.js';
import { readText, removeFile } from '../ports/files.js';
import { activeNetworkFile, isOurNetworkdFile, networkdUnitPath, renderNetworkd, type NetworkdPaths, type NetworkFile } from '../render/networkd.js';
import { configFlags, otherManager, writeEach, type Backend } from './backend.js';

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

/** The ENI's unit, or its drop-in for `shadowedBy` (the file networkd reads first for the link). */
export function networkdRenderer(paths: NetworkdPaths, shadowedBy?: string): FileRenderer {
  return {
    key: shadowedBy === undefined ? 'networkd' : `networkd, drop-in for ${shadowedBy}`,
    installsMainRoutes: true,
    mainMetricBase: NETWORKD_METRIC_BASE,
    render: (eni) =>
      renderNetworkd(paths, {
        ifname: eni.ifname,
        mac: eni.meta.mac,
        eniId: eni.meta.eniId,
        ...(eni.flags.mainRouteTable ? { mainMetric: eni.mainMetric } : {}),
        dhcp4: eni.subnet !== undefined,
        addresses: eni.addresses,
        routes: eni.routes,
        ...(shadowedBy ? { shadowedBy } : {}),
      }),
  };
}

export function networkdBackend(paths: Paths, config: Config, activator: Activator): Backend {
  // networkd reads its units only when told; a reload configures every link whose unit changed.
  const reload = () => activator.reload?.() ?? Promise.resolve();
  /** Removes the units and drop-ins among `files` that were written for this MAC; returns whether any went. */
  const removeOurs = async (files: readonly string[], mac: string): Promise<boolean> => {
    let removed = false;
    for (const path of files) {
      const text = await readText(path).catch(() => undefined);
      if (text !== undefined && isOurNetworkdFile(text, mac)) {
        await removeFile(path);
        removed = true;
      }
    }
    if (removed) await reload();
    return removed;
  };
  return {
    kind: 'networkd',
    activator,
    reconfiguresOnWrite: true,
    declines: (link) => otherManager(paths, config, link),
    async facts(link) {
      const shadowedBy = await networkdShadow(paths, link);
      return {
        flags: configFlags(config),
        renderer: networkdRenderer(paths, shadowedBy),
        read: new Map(),
        ...(shadowedBy
          ? {
              note: {
                message: "another generator's .network file is read first for this interface: our settings are a drop-in beside it",
                fields: { shadowedBy },
              },
            }
          : {}),
      };
    },
    async write(files) {
      const changed = await writeEach(files);
      // An unchanged unit needs no reload (a reload of a changed one reconfigures the link).
      if (changed) await reload();
      return changed;
    },
    removeStale: removeOurs,
    async cleanUp(record) {
      await removeOurs(record.files ?? [], record.mac);
    },
  };
}
