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
import { activeNetworkFile, isOurNetworkdFile, networkdUnitPath, renderNetworkd, selectsOnly, type NetworkdPaths, type NetworkFile } from '../render/networkd.js';
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

/**
 * The other generator's file networkd picks before ours for this link, if any, and whether it selects this link
 * alone (then a drop-in beside it is ours) or others too (then our unit sorts before it). Our own files for this
 * MAC, wherever they sort, are not another generator's.
 */
export async function networkdShadow(paths: Paths, link: Link): Promise<{ name: string; only: boolean } | undefined> {
  const ours = networkdUnitPath(paths, link.name).split('/').pop() as string;
  const files = (await networkFiles(paths)).filter((f) => !isOurNetworkdFile(f.content, link.mac));
  const facts = { ifname: link.name, mac: link.mac };
  const name = activeNetworkFile(files, facts, ours);
  const file = files.find((f) => f.name === name);
  return file ? { name: file.name, only: selectsOnly(file.content, facts) } : undefined;
}

/**
 * The ENI's unit; its drop-in for `shadow` when networkd reads that file first for this link alone; or its unit
 * named to sort before `shadow` when that is a catch-all.
 */
export function networkdRenderer(paths: NetworkdPaths, shadow?: { readonly name: string; readonly only: boolean }): FileRenderer {
  const shadowedBy = shadow?.only ? shadow.name : undefined;
  const sortBefore = shadow && !shadow.only ? shadow.name : undefined;
  return {
    key: shadow === undefined ? 'networkd' : `networkd, ${shadow.only ? 'drop-in for' : 'unit before'} ${shadow.name}`,
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
        ...(sortBefore ? { sortBefore } : {}),
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
      const shadow = await networkdShadow(paths, link);
      const note = !shadow
        ? undefined
        : shadow.only
          ? { message: "another generator's .network file is read first for this interface: our settings are a drop-in beside it", fields: { shadowedBy: shadow.name } }
          : { message: "a catch-all .network file would be read first for this interface: our unit is named to sort before it", fields: { catchAll: shadow.name } };
      return { flags: configFlags(config), renderer: networkdRenderer(paths, shadow), read: new Map(), ...(note ? { note } : {}) };
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
