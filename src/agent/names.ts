/**
 * Persistent names: an ENI keeps its interface name across detach and re-attach. As the seed's
 * 75-persistent-net-generator did, the first name a MAC is seen under is written as a udev rule that renames the
 * device when it comes back (70-ec2net-persistent-net.rules, sorting before the kernel's own naming).
 */
import type { Logger } from '../log.js';
import { readText, writeAtomic } from '../ports/files.js';
import { acquireLock, lockPath } from '../ports/lock.js';
import { parsePersistentNetRules, persistentNetRulesPath, renderPersistentNetRules, withPersistentName } from '../render/udev.js';
import type { AgentContext } from './context.js';

/** Records MAC → name unless the MAC already has a name or the name is another MAC's; returns whether it wrote. */
export async function rememberName(ctx: AgentContext, mac: string, ifname: string, log: Logger): Promise<boolean> {
  // One file for every ENI: its read-modify-write is serialised across runs on different interfaces.
  const lock = await acquireLock(lockPath(ctx.paths, NAMES_LOCK), ctx.clock.sleep, ctx.clock.now);
  try {
    return await update(ctx, mac, ifname, log);
  } finally {
    await lock.release();
  }
}

const NAMES_LOCK = 'persistent-names';

async function update(ctx: AgentContext, mac: string, ifname: string, log: Logger): Promise<boolean> {
  const path = persistentNetRulesPath(ctx.paths.udevRules);
  let entries;
  try {
    entries = parsePersistentNetRules(await readText(path), path);
  } catch (e) {
    // Someone else's edits: the file is rewritten whole, so it is left alone rather than lose their lines.
    log.warn({ path, err: e }, 'persistent-name rules are not in the form ec2net writes: left alone');
    return false;
  }
  const r = withPersistentName(entries, mac, ifname);
  if (r.outcome === 'name-taken') log.warn({ path, owner: r.owner }, 'interface name is recorded for another MAC: not recorded again');
  if (r.outcome !== 'added') return false;
  return writeAtomic(renderPersistentNetRules(ctx.paths.udevRules, r.entries));
}
