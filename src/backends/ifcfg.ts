/**
 * The ifcfg backend (Amazon Linux 2, initscripts): ifcfg-IF, route-IF, route6-IF and dhclient-IF.conf, as
 * ec2-net-utils v1 wrote them, activated by initscripts' ifup where it is installed, else by ec2net's own dhclient.
 * The files are written only where the ifcfg directory exists (initscripts, or the admin made it): nothing else
 * reads them, so elsewhere (Debian, Ubuntu) the interface is configured at runtime and the flags come from
 * ec2net.conf.
 */
import type { Config, Paths } from '../config.js';
import type { Link } from '../model/state.js';
import { parseKeyValues } from '../model/keyvalues.js';
import type { FileRenderer } from '../planner/plan.js';
import { IFCFG_METRIC_BASE } from '../planner/numbering.js';
import type { Activator } from '../ports/activation.js';
import { exists, readText, removeFile } from '../ports/files.js';
import { adminFlags } from '../render/ifcfg-flags.js';
import { ifcfgPath, renderIfcfg, type IfcfgPaths } from '../render/ifcfg.js';
import type { EniRecord } from '../reconcile/record.js';
import { configFlags, otherManager, writeEach, type Backend } from './backend.js';

/** The ifcfg files for an ENI; none when `files` is false (no ifcfg directory on the system). */
export function ifcfgRenderer(paths: IfcfgPaths, files = true): FileRenderer {
  return {
    key: files ? 'ifcfg' : 'ifcfg, no files',
    installsMainRoutes: false,
    mainMetricBase: IFCFG_METRIC_BASE,
    render: (eni) =>
      files
        ? renderIfcfg(paths, {
            ifname: eni.ifname,
            mac: eni.meta.mac,
            table: eni.table,
            mainMetric: eni.mainMetric,
            ...(eni.subnet ? { subnet: eni.subnet } : {}),
            ...(eni.meta.localIpv4s[0] !== undefined ? { primaryIpv4: eni.meta.localIpv4s[0] } : {}),
            flags: eni.flags,
            ...(eni.ipv6Router ? { ipv6Router: eni.ipv6Router } : {}),
          })
        : [],
  };
}

export function ifcfgBackend(paths: Paths, config: Config, activator: Activator): Backend {
  /** The ifcfg file is this ENI's (its HWADDR) and the admin has not taken it over (EC2SYNC=no). */
  const ownsFiles = async (record: EniRecord): Promise<boolean> => {
    const path = ifcfgPath(paths, record.ifname);
    const text = await readText(path);
    if (text === undefined) return false;
    try {
      return parseKeyValues(text, path).get('HWADDR')?.toLowerCase() === record.mac && adminFlags(text, path).ec2sync;
    } catch {
      return false;
    }
  };
  return {
    kind: 'ifcfg',
    activator,
    reconfiguresOnWrite: false,
    declines: (link) => otherManager(paths, config, link),
    async facts(link: Link) {
      const path = ifcfgPath(paths, link.name);
      const text = await readText(path);
      const read = new Map([[path, text]]);
      if (text === undefined && !(await exists(paths.networkScripts))) {
        return { flags: configFlags(config), renderer: ifcfgRenderer(paths, false), read };
      }
      return { flags: adminFlags(text, path), renderer: ifcfgRenderer(paths), read };
    },
    // initscripts reads the files at ifup; nothing is told.
    write: writeEach,
    // The files are named by interface, and a file of an old name is another interface's to keep or replace.
    removeStale: async () => false,
    async cleanUp(record) {
      if (!(await ownsFiles(record))) return;
      // The ifcfg file goes last: its HWADDR is what shows the others are ours, so a run killed midway can finish.
      for (const f of [
        `${paths.networkScripts}/route-${record.ifname}`,
        `${paths.networkScripts}/route6-${record.ifname}`,
        `${paths.dhcp}/dhclient-${record.ifname}.conf`,
        ifcfgPath(paths, record.ifname),
      ]) {
        await removeFile(f);
      }
    },
  };
}
