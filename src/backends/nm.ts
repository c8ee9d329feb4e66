/**
 * The NetworkManager backend (RHEL 8/9/10, Rocky, Alma, CentOS Stream, Fedora): one runtime keyfile profile per ENI
 * under /run/NetworkManager/system-connections (src/render/nm.ts), matched by MAC, handed to NetworkManager with
 * `nmcli connection load` and activated with `nmcli connection up` (never a restart of NetworkManager). ec2net
 * installs the source rules, the table's routes and (at once, besides the profile) the secondary addresses itself,
 * stamped with its protocol, as in every backend.
 *
 * A changed profile is loaded, never reapplied: `nmcli device reapply` deletes the main-table routes on the device
 * that NetworkManager did not add (an admin's, a CNI's), and NetworkManager 1.42 gives a loaded profile's settings
 * to the device at its next activation or restart, by which time ec2net has put them in place already.
 *
 * A profile of the image's or the admin's for the same interface (a keyfile in /etc or /usr/lib, an ifcfg file
 * that RHEL 8's ifcfg-rh plugin reads) is theirs: ec2net steps aside and says so, rather than competing with it
 * for the device.
 */
import { readdir } from 'node:fs/promises';
import type { Config, Paths } from '../config.js';
import type { Link } from '../model/state.js';
import { NM_METRIC_BASE } from '../planner/numbering.js';
import type { FileRenderer } from '../planner/plan.js';
import { nmcli, nmDeviceState, nmView, NMCLI_NOT_FOUND, type Activator } from '../ports/activation.js';
import { readText, removeFile, writeAtomic } from '../ports/files.js';
import { isOurNmProfile, nmUuid, renderNm, selectsInterface, type NmPaths } from '../render/nm.js';
import { configFlags, type Backend } from './backend.js';

export function nmRenderer(paths: NmPaths): FileRenderer {
  return {
    key: 'nm',
    installsMainRoutes: true,
    mainMetricBase: NM_METRIC_BASE,
    render: (eni) =>
      renderNm(paths, {
        ifname: eni.ifname,
        mac: eni.meta.mac,
        eniId: eni.meta.eniId,
        ...(eni.flags.mainRouteTable ? { mainMetric: eni.mainMetric } : {}),
        dhcp4: eni.subnet !== undefined,
        ipv6: eni.meta.ipv6s.length > 0,
        addresses: eni.addresses,
      }),
  };
}

/** The first profile or ifcfg file of someone else's that selects this link, by path. */
export async function foreignProfile(paths: Paths, link: Link): Promise<string | undefined> {
  const candidates = [
    ...paths.nmProfileDirs.map((dir) => ({ dir, pick: (n: string) => n.endsWith('.nmconnection') })),
    { dir: paths.networkScripts, pick: (n: string) => n.startsWith('ifcfg-') },
  ];
  for (const { dir, pick } of candidates) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter(pick).sort();
    for (const name of names) {
      const text = await readText(`${dir}/${name}`).catch(() => undefined);
      if (text !== undefined && !isOurNmProfile(text, link.mac) && selectsInterface(text, { ifname: link.name, mac: link.mac })) return `${dir}/${name}`;
    }
  }
  return undefined;
}

export function nmBackend(paths: Paths, config: Config, activator: Activator): Backend {
  const load = (path: string) => nmcli(['connection', 'load', nmView(paths, path)], { path });
  /** Deletes the profiles among `files` that were written for this MAC; returns whether any went. */
  const removeOurs = async (files: readonly string[], mac: string): Promise<boolean> => {
    let removed = false;
    for (const path of files) {
      const text = await readText(path).catch(() => undefined);
      if (text === undefined || !isOurNmProfile(text, mac)) continue;
      // NetworkManager forgets the profile and removes its file; one it no longer knew is only a file.
      await nmcli(['connection', 'delete', 'uuid', nmUuid(mac)], { path, mac }, [0, NMCLI_NOT_FOUND]);
      await removeFile(path);
      removed = true;
    }
    return removed;
  };
  return {
    kind: 'nm',
    activator,
    reconfiguresOnWrite: false,
    async declines(link) {
      const state = await nmDeviceState(paths, link.index);
      if (state?.get('managed') === 'false') return 'NetworkManager does not manage this interface (managed=false): nothing would activate a profile for it';
      const foreign = await foreignProfile(paths, link);
      if (foreign !== undefined) return `the profile ${foreign} configures this interface in NetworkManager: left to it`;
      return undefined;
    },
    async facts() {
      return { flags: configFlags(config), renderer: nmRenderer({ runConnections: paths.nmRunConnections }), read: new Map() };
    },
    async write(files) {
      let changed = false;
      for (const f of files) {
        if (!(await writeAtomic(f))) continue;
        await load(f.path);
        changed = true;
      }
      return changed;
    },
    removeStale: removeOurs,
    async cleanUp(record) {
      await removeOurs(record.files ?? [], record.mac);
    },
  };
}
