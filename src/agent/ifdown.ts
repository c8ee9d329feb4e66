/**
 * ec2ifdown: deactivate one interface and remove what the agent put on it, as ec2-net-utils v1 did (`ifdown IF`, then
 * its rules and aliases): DHCP stopped and its lease released, its source rules, the routes of its table and its
 * main-table default, the secondary addresses the agent recorded adding, and the link set down. Works without IMDS.
 * The written files stay, as with ifdown: the interface is down, not detached. The record stays too, marked down,
 * so that ec2netd leaves the interface alone until ec2ifup or a detach. The primary ENI's DHCP and link belong to
 * the image: only what ec2net added to it goes.
 */
import { unmanagedBy } from '../config.js';
import { MAIN_TABLE } from '../model/state.js';
import { converge } from '../reconcile/converge.js';
import { acquireLock, lockPath } from '../ports/lock.js';
import type { AgentContext } from './context.js';
import { findLink, readRecord, writeRecord } from './ifup.js';

export interface IfdownResult {
  readonly ifname: string;
  readonly skipped?: string;
}

export async function ifdown(ctx: AgentContext, ifname: string): Promise<IfdownResult> {
  const link = await findLink(ctx, ifname);
  const lock = await acquireLock(lockPath(ctx.paths, ifname), ctx.clock.sleep, ctx.clock.now);
  try {
    const log = ctx.log.child({ iface: ifname, mac: link.mac });
    if (!(await ctx.backend.facts(link)).flags.ec2sync) {
      log.info({ reason: 'EC2SYNC=no in the ifcfg file' }, 'leaving interface alone');
      return { ifname, skipped: 'EC2SYNC=no in the ifcfg file' };
    }
    const record = await readRecord(ctx, link.mac);
    // ec2net.conf decides, as it says now; the record supplies what IMDS would (ec2ifdown works without IMDS).
    const unmanaged = unmanagedBy(ctx.config, { ifname, mac: link.mac, eniId: record?.eniId ?? '', deviceNumber: record?.deviceNumber ?? -1, networkCard: record?.networkCard ?? -1 });
    if (unmanaged !== undefined) {
      const skipped = `UNMANAGED=${unmanaged} in ec2net.conf: left to another agent`;
      log.info({ reason: skipped }, 'leaving interface alone');
      return { ifname, skipped };
    }
    const protocol = ctx.config.settings.protocol;
    // The tables to clear: the recorded one, and any table in which one of our routes uses this interface.
    const tables = new Set<number>(record ? [record.table] : []);
    for (const r of (await ctx.kernel.snapshot()).routes) {
      if (r.protocol === protocol && r.dev === ifname && r.table !== MAIN_TABLE) tables.add(r.table);
    }
    const owned = new Set(record?.ifname === ifname ? record.addresses : []);

    // The primary ENI's DHCP belongs to the image. Without a record, only a dhclient of our own is stopped.
    const secondary = record ? !record.primary : true;
    const { activator } = ctx.backend;
    if (secondary && (record !== undefined || activator.kind === 'dhclient')) await activator.down(ifname);
    for (const table of tables.size > 0 ? tables : new Set([0])) {
      await converge(ctx.kernel, { ifname, table, rules: [], routes: [], addresses: [] }, { protocol, ownedAddresses: owned }, log);
    }
    if (secondary && link.up) await ctx.kernel.setLinkDown(ifname);
    // Written last: a run killed before this point leaves a record the next ec2ifdown or ec2ifup completes.
    if (record) await writeRecord(ctx, { ...record, ifname, converged: false, addresses: [], down: true });
    log.info({ tables: [...tables] }, 'interface deconfigured');
    return { ifname };
  } finally {
    await lock.release();
  }
}
