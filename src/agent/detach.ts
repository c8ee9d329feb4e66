/**
 * Detach: the ENI's device is gone. Its addresses and routes went with the device; its source rules did not
 * (rules are not tied to a device), nor did its files and its DHCP client. State is found by MAC through the
 * record, never by interface name or ifindex, which the next device may reuse.
 */
import { converge } from '../reconcile/converge.js';
import { parseRecord, recordPath, type EniRecord } from '../reconcile/record.js';
import { listDir, readText, removeFile, sweepTemporaries } from '../ports/files.js';
import { acquireLock, lockPath } from '../ports/lock.js';
import type { AgentContext } from './context.js';

/** The record of another present ENI (by MAC) that holds `table`, if any: that table is its, not `mac`'s. */
export async function tableHolder(ctx: AgentContext, table: number, mac: string, present: ReadonlySet<string>): Promise<EniRecord | undefined> {
  return (await readRecords(ctx)).find((r) => r.mac !== mac && r.table === table && present.has(r.mac));
}

/** Every record; PermissionDenied when they cannot be read (not root: /run/ec2net is root's, mode 0700). */
export async function readRecords(ctx: AgentContext): Promise<EniRecord[]> {
  const names = await listDir(ctx.paths.stateDir);
  const records = await Promise.all(names.filter((n) => n.endsWith('.json')).map(async (n) => parseRecord(await readText(`${ctx.paths.stateDir}/${n}`))));
  return records.filter((r): r is EniRecord => r !== undefined);
}

/** Removes everything of a detached ENI. Returns false when a device with its MAC is present again. */
export async function detach(ctx: AgentContext, record: EniRecord): Promise<boolean> {
  const lock = await acquireLock(lockPath(ctx.paths, record.ifname), ctx.clock.sleep, ctx.clock.now);
  try {
    const present = new Set((await ctx.kernel.links()).map((l) => l.mac));
    if (present.has(record.mac)) return false;
    const log = ctx.log.child({ iface: record.ifname, mac: record.mac, eni: record.eniId });
    await ctx.backend.activator.forget(record.ifname);
    // A device that came since may own the same table (same device number); its own runs keep that table.
    if (!(await tableHolder(ctx, record.table, record.mac, present))) {
      const own = { protocol: ctx.config.settings.protocol, ownedAddresses: new Set<string>() };
      // No interface name: the device's routes and addresses went with it, and the name may be another's now.
      await converge(ctx.kernel, { ifname: '', table: record.table, rules: [], routes: [], addresses: [] }, own, log);
    }
    // The primary ENI's config belongs to the image.
    if (!record.primary) await ctx.backend.cleanUp(record);
    await removeFile(recordPath(ctx.paths.stateDir, record.mac));
    log.info({ table: record.table }, 'detached ENI cleaned up');
    return true;
  } finally {
    await lock.release();
  }
}

/** Cleans up every recorded ENI whose MAC is on no link any more; returns their MACs. */
export async function cleanupDetached(ctx: AgentContext): Promise<string[]> {
  // A run killed while writing a file it then never writes again (the first record of an ENI that went) leaves
  // only the temporary.
  for (const dir of [ctx.paths.stateDir, ctx.paths.networkScripts, ctx.paths.dhcp, ctx.paths.runDir, ctx.paths.runNetwork]) await sweepTemporaries(dir);
  const present = new Set((await ctx.kernel.links()).map((l) => l.mac));
  const done: string[] = [];
  for (const record of await readRecords(ctx)) {
    if (!present.has(record.mac) && (await detach(ctx, record))) done.push(record.mac);
  }
  return done;
}
