/**
 * ec2ifup: configure and activate one ENI interface, and return only once the kernel holds what was planned.
 * Nothing is changed before IMDS has answered and every value has been validated: a Transient answer or an
 * invalid value ends the run with the configured state untouched.
 */
import { Ec2netError } from '../errors.js';
import { readEni } from '../imds/eni.js';
import type { EniMetadata } from '../model/metadata.js';
import type { Link } from '../model/state.js';
import { plan, type Plan } from '../planner/plan.js';
import { adminFlags } from '../render/ifcfg-flags.js';
import { ifcfgPath } from '../render/ifcfg.js';
import { converge, summarize } from '../reconcile/converge.js';
import { parseRecord, recordPath, renderRecord, type EniRecord } from '../reconcile/record.js';
import { readText, writeAtomic } from '../ports/files.js';
import { acquireLock } from '../ports/lock.js';
import type { AgentContext } from './context.js';
import { rememberName } from './names.js';

/** A hotplugged device can show an all-zero MAC until its driver has initialised it. */
export const MAC_WAIT_MS = 10_000;
/** How long to wait for DHCP to put the primary address on the interface. */
export const DHCP_WAIT_MS = 60_000;
const POLL_MS = 100;

export interface IfupResult {
  readonly ifname: string;
  readonly skipped?: string;
  readonly changed: boolean;
  /** What the interface was converged to (absent when skipped). */
  readonly plan?: Plan;
}

async function waitFor<T>(ctx: AgentContext, boundMs: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = ctx.clock.now() + boundMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined || ctx.clock.now() >= deadline) return v;
    await ctx.clock.sleep(POLL_MS);
  }
}

export async function findLink(ctx: AgentContext, ifname: string): Promise<Link> {
  const link = (await ctx.kernel.links()).find((l) => l.name === ifname);
  if (!link) throw new Ec2netError('NotFound', 'no such interface', { iface: ifname });
  return link;
}

/** The link once its MAC is non-zero, within MAC_WAIT_MS. */
export async function linkWithMac(ctx: AgentContext, ifname: string): Promise<Link> {
  const link = await waitFor(ctx, MAC_WAIT_MS, async () => {
    const l = await findLink(ctx, ifname);
    return l.mac === '00:00:00:00:00:00' ? undefined : l;
  });
  if (!link) throw new Ec2netError('Transient', 'interface MAC is still all zeroes', { iface: ifname, waitedMs: MAC_WAIT_MS });
  return link;
}

export async function readRecord(ctx: AgentContext, mac: string): Promise<EniRecord | undefined> {
  return parseRecord(await readText(recordPath(ctx.paths.stateDir, mac)));
}

async function writeRecord(ctx: AgentContext, record: EniRecord): Promise<void> {
  await writeAtomic({ path: recordPath(ctx.paths.stateDir, record.mac), content: renderRecord(record), mode: 0o600 });
}

/** An address of ours on the interface whose source rule is in place: IMDS requests can leave through this ENI. */
async function ownSourceAddress(ctx: AgentContext, ifname: string): Promise<string | undefined> {
  const [rules, addresses] = await Promise.all([ctx.kernel.rules(4), ctx.kernel.addresses(4)]);
  const routed = new Set(rules.filter((r) => r.protocol === ctx.config.settings.protocol).map((r) => r.src));
  const hit = addresses.find((a) => a.dev === ifname && routed.has(`${a.address.split('/')[0]}/32`));
  return hit?.address.split('/')[0];
}

async function activate(ctx: AgentContext, p: Plan): Promise<void> {
  await ctx.kernel.setLinkUp(p.ifname);
  const want = p.primaryIpv4;
  if (want === undefined) return;
  const hasPrimary = async () =>
    (await ctx.kernel.addresses(4)).some((a) => a.dev === p.ifname && a.address.startsWith(`${want}/`)) ? true : undefined;
  if (await hasPrimary()) return;
  ctx.log.info({ iface: p.ifname, activation: ctx.activator.kind }, 'starting DHCP');
  await ctx.activator.up(p.ifname);
  if (!(await waitFor(ctx, DHCP_WAIT_MS, hasPrimary))) {
    throw new Ec2netError('Transient', 'DHCP did not put the primary address on the interface', {
      iface: p.ifname,
      address: want,
      waitedMs: DHCP_WAIT_MS,
    });
  }
}

/** Reads the admin's flags and IMDS, and plans; changes nothing. */
export async function planFor(ctx: AgentContext, link: Link): Promise<{ meta: EniMetadata; plan: Plan }> {
  const flagsPath = ifcfgPath(ctx.paths, link.name);
  const flags = adminFlags(await readText(flagsPath), flagsPath);
  const meta = await readEni(ctx.imds(await ownSourceAddress(ctx, link.name)), ctx.clock, link.mac);
  return { meta, plan: plan({ meta, ifname: link.name, flags, settings: ctx.config.settings, paths: ctx.paths }) };
}

export async function ifup(ctx: AgentContext, ifname: string): Promise<IfupResult> {
  const link = await linkWithMac(ctx, ifname);
  const lock = await acquireLock(ifname, ctx.clock.sleep, ctx.clock.now);
  try {
    const log = ctx.log.child({ iface: ifname, mac: link.mac });
    const previous = await readRecord(ctx, link.mac);
    const { meta, plan: p } = await planFor(ctx, link);
    if (p.skip) {
      log.info({ reason: p.skip }, 'leaving interface alone');
      return { ifname, skipped: p.skip, changed: false };
    }

    let changed = false;
    for (const f of p.files) if (await writeAtomic(f)) changed = true;
    if (await rememberName(ctx, link.mac, ifname, log)) changed = true;
    if (!meta.isPrimary) await activate(ctx, p);
    for (const altname of p.altnames.filter((a) => !link.altnames.includes(a))) {
      await ctx.kernel.addAltname(ifname, altname);
      changed = true;
    }

    const owned = new Set(previous?.ifname === ifname ? previous.addresses : []);
    const record = { mac: link.mac, eniId: p.eniId, ifname, table: p.table, deviceNumber: meta.deviceNumber, networkCard: meta.networkCard, primary: meta.isPrimary };
    const desiredAddresses = p.addresses.map((a) => a.address);
    // Record the union before applying: a run killed midway still knows every address it may have added.
    await writeRecord(ctx, { ...record, addresses: [...new Set([...owned, ...desiredAddresses])] });
    const { applied } = await converge(ctx.kernel, { ...p }, { protocol: ctx.config.settings.protocol, ownedAddresses: owned }, log);
    await writeRecord(ctx, { ...record, addresses: desiredAddresses });
    const counts = summarize(applied);
    if (Object.values(counts).some((n) => n > 0)) changed = true;
    log.info({ eni: p.eniId, table: p.table, ...counts }, 'interface converged');
    return { ifname, changed, plan: p };
  } finally {
    await lock.release();
  }
}
