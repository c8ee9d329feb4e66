/**
 * ec2ifdown: deactivate one interface and remove what the agent put on it: its source rules, the routes of its
 * table and its main-table default, and the secondary addresses the agent recorded adding. Works without IMDS.
 * The written files stay, as with ifdown: the interface is down, not detached.
 */
import { MAIN_TABLE } from '../model/state.js';
import { adminFlags } from '../render/ifcfg-flags.js';
import { ifcfgPath } from '../render/ifcfg.js';
import { converge } from '../reconcile/converge.js';
import { recordPath } from '../reconcile/record.js';
import { readText, removeFile } from '../ports/files.js';
import { acquireLock, lockPath } from '../ports/lock.js';
import type { AgentContext } from './context.js';
import { findLink, readRecord } from './ifup.js';

export interface IfdownResult {
  readonly ifname: string;
  readonly skipped?: string;
}

export async function ifdown(ctx: AgentContext, ifname: string): Promise<IfdownResult> {
  const link = await findLink(ctx, ifname);
  const lock = await acquireLock(lockPath(ctx.paths, ifname), ctx.clock.sleep, ctx.clock.now);
  try {
    const log = ctx.log.child({ iface: ifname, mac: link.mac });
    const flagsPath = ifcfgPath(ctx.paths, ifname);
    const ifcfg = await readText(flagsPath);
    if (!adminFlags(ifcfg, flagsPath).ec2sync) {
      log.info({ reason: 'EC2SYNC=no in the ifcfg file' }, 'leaving interface alone');
      return { ifname, skipped: 'EC2SYNC=no in the ifcfg file' };
    }
    const record = await readRecord(ctx, link.mac);
    const protocol = ctx.config.settings.protocol;
    // The tables to clear: the recorded one, and any table in which one of our routes uses this interface.
    const tables = new Set<number>(record ? [record.table] : []);
    for (const r of (await ctx.kernel.snapshot()).routes) {
      if (r.protocol === protocol && r.dev === ifname && r.table !== MAIN_TABLE) tables.add(r.table);
    }
    const owned = new Set(record?.ifname === ifname ? record.addresses : []);

    // The primary ENI's DHCP belongs to the image. Without a record, only a dhclient of our own is stopped.
    if (record ? !record.primary : ctx.activator.kind === 'dhclient') await ctx.activator.down(ifname);
    for (const table of tables.size > 0 ? tables : new Set([0])) {
      await converge(ctx.kernel, { ifname, table, rules: [], routes: [], addresses: [] }, { protocol, ownedAddresses: owned }, log);
    }
    await removeFile(recordPath(ctx.paths.stateDir, link.mac));
    log.info({ tables: [...tables] }, 'interface deconfigured');
    return { ifname };
  } finally {
    await lock.release();
  }
}
