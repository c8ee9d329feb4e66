/**
 * ec2ifup: configure and activate one ENI interface, and return only once the kernel holds what was planned.
 * Nothing is changed before IMDS has answered and every value has been validated: a Transient answer or an
 * invalid value ends the run with the configured state untouched.
 */
import { unmanagedBy } from '../config.js';
import { Ec2netError, isEc2netError } from '../errors.js';
import type { Logger } from '../log.js';
import { readEni } from '../imds/eni.js';
import type { EniMetadata } from '../model/metadata.js';
import { MAIN_TABLE, holdsAddress, type Link } from '../model/state.js';
import type { KernelSnapshot } from '../ports/kernel.js';
import { kernelFactsOf, type KernelFacts } from '../planner/facts.js';
import { hasIpv6Default, plan, type Plan } from '../planner/plan.js';
import { tableId } from '../planner/numbering.js';
import { converge, summarize, type ConvergeResult } from '../reconcile/converge.js';
import type { Ownership } from '../reconcile/diff.js';
import { parseRecord, recordPath, renderRecord, type EniRecord } from '../reconcile/record.js';
import { exists, readText, writeAtomic } from '../ports/files.js';
import { acquireLock, lockPath } from '../ports/lock.js';
import { ARPHRD, RTPROT_RA } from '../ports/netlink-constants.js';
import type { InterfaceFacts } from '../backends/backend.js';
import type { AgentContext } from './context.js';
import { tableHolder } from './detach.js';
import { rememberName } from './names.js';

/** A hotplugged device can show an all-zero MAC until its driver has initialised it. */
export const MAC_WAIT_MS = 10_000;
/** How long to wait for DHCP to put the primary address on the interface. */
export const DHCP_WAIT_MS = 60_000;
/**
 * How long to wait after link up for a router advertisement to name the IPv6 router. The kernel solicits one
 * about a second after link up (once its link-local address has passed DAD) and retries every 4 s.
 */
export const IPV6_ROUTER_WAIT_MS = 10_000;
/**
 * A wait wakes on the kernel's notifications of links, addresses and routes (KernelPort.watch) and looks again
 * at least this often without one.
 */
const RECHECK_MS = 1_000;

export interface IfupResult {
  readonly ifname: string;
  readonly skipped?: string;
  /** Left alone because ec2ifdown took it down (only with `automatic`). */
  readonly down?: boolean;
  /** Left to another agent: the UNMANAGED word in ec2net.conf that matched. */
  readonly unmanaged?: string;
  readonly changed: boolean;
  /** What the interface was converged to, and the metadata it was planned from. */
  readonly plan?: Plan;
  readonly meta?: EniMetadata;
}

/**
 * The probe's first answer other than undefined, or undefined at the bound. The probe runs again at each
 * notification: the watch begins before the probe it follows, so a change between a probe and the wait is not
 * missed.
 */
async function waitFor<T>(ctx: AgentContext, boundMs: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = ctx.clock.now() + boundMs;
  // Most waits are over at once (the MAC is there, the lease is held): the watch is opened only for one that is not.
  const first = await probe();
  if (first !== undefined || boundMs <= 0) return first;
  const watch = ctx.kernel.watch();
  try {
    for (;;) {
      const v = await probe();
      const left = deadline - ctx.clock.now();
      if (v !== undefined || left <= 0) return v;
      await watch.changed(Math.min(left, RECHECK_MS));
    }
  } finally {
    watch.close();
  }
}

export async function findLink(ctx: AgentContext, ifname: string): Promise<Link> {
  const link = (await ctx.kernel.links()).find((l) => l.name === ifname);
  if (!link) throw new Ec2netError('NoSuchInterface', 'no such interface', { iface: ifname });
  return link;
}

/**
 * The link once its MAC is non-zero, within MAC_WAIT_MS. An ENI is an Ethernet device from the moment it appears,
 * MAC set or not: a loopback or a tunnel never becomes one, and is refused at once.
 */
export async function linkWithMac(ctx: AgentContext, ifname: string): Promise<Link> {
  const link = await waitFor(ctx, MAC_WAIT_MS, async () => {
    const l = await findLink(ctx, ifname);
    if (l.arpType !== undefined) {
      const what = l.arpType === ARPHRD.LOOPBACK ? 'a loopback link' : 'not an Ethernet link';
      throw new Ec2netError('NotEthernet', `${ifname} is not an ENI (${what})`, { iface: ifname, arpType: l.arpType });
    }
    return l.mac === '00:00:00:00:00:00' ? undefined : l;
  });
  if (!link) throw new Ec2netError('Transient', 'interface MAC is still all zeroes', { iface: ifname, waitedMs: MAC_WAIT_MS });
  return link;
}

export async function readRecord(ctx: AgentContext, mac: string): Promise<EniRecord | undefined> {
  return parseRecord(await readText(recordPath(ctx.paths.stateDir, mac)));
}

export async function writeRecord(ctx: AgentContext, record: EniRecord): Promise<void> {
  await writeAtomic({ path: recordPath(ctx.paths.stateDir, record.mac), content: renderRecord(record), mode: 0o600 });
}

/** An address of ours on the interface whose source rule is in place: IMDS requests can leave through this ENI. */
function ownSourceAddress(ctx: AgentContext, snap: KernelSnapshot, ifname: string): string | undefined {
  const routed = new Set(snap.rules.filter((r) => r.protocol === ctx.config.settings.protocol).map((r) => r.src));
  const hit = snap.addresses.find((a) => a.dev === ifname && routed.has(`${a.address.split('/')[0]}/32`));
  return hit?.address.split('/')[0];
}

/** Link up and DHCP's primary address in place; returns whether anything had to be done. */
async function activate(ctx: AgentContext, p: Plan, link: Link, snap: KernelSnapshot): Promise<boolean> {
  const want = p.primaryIpv4;
  const held = want !== undefined && holdsAddress(snap.addresses, p.ifname, want);
  // An address in place with no client behind it is never renewed: the client is started again.
  const { activator } = ctx.backend;
  const needsDhcp = want !== undefined && (!held || !(await activator.isRunning(p.ifname, p.dhcpRouteMetric)));
  if (!link.up) await ctx.kernel.setLinkUp(p.ifname);
  if (!needsDhcp) return !link.up;
  ctx.log.info({ iface: p.ifname, activation: activator.kind, addressHeld: held }, 'starting DHCP');
  const started = ctx.clock.now();
  await activator.up(p.ifname, p.dhcpRouteMetric);
  // The device can go while DHCP runs (detached mid-configuration): stop waiting then, not at the bound.
  // Links and IPv4 addresses only: on a large instance a whole snapshot costs tens of milliseconds.
  const probe = async () => {
    const [links, addresses] = await Promise.all([ctx.kernel.links(), ctx.kernel.addresses(4)]);
    if (!links.some((l) => l.name === p.ifname && l.mac === link.mac)) return 'gone';
    return holdsAddress(addresses, p.ifname, want) ? 'leased' : undefined;
  };
  const restart = activator.restart;
  let leased = await waitFor(ctx, restart?.afterMs ?? DHCP_WAIT_MS, probe);
  if (leased === undefined && restart) {
    ctx.log.warn({ iface: p.ifname, address: want, waitedMs: restart.afterMs, activation: activator.kind }, 'no DHCP address yet: starting the interface over');
    await restart.run(p.ifname);
    leased = await waitFor(ctx, DHCP_WAIT_MS - restart.afterMs, probe);
  }
  if (leased === 'gone') throw new Ec2netError('Transient', 'the interface went away while DHCP ran', { iface: p.ifname, device: link.mac });
  if (!leased) {
    throw new Ec2netError('Transient', 'DHCP did not put the primary address on the interface', {
      iface: p.ifname,
      address: want,
      waitedMs: DHCP_WAIT_MS,
    });
  }
  ctx.log.info({ iface: p.ifname, address: want, dhcpMs: ctx.clock.now() - started }, 'DHCP address in place');
  return true;
}

/**
 * After `networkctl reload` networkd reconfigures the link in the background: it renews DHCP (the primary address
 * goes for some tens of milliseconds) and re-applies the unit. Converging while that runs can fail to verify, so
 * it is retried within this bound.
 */
export const RECONFIGURE_SETTLE_MS = 10_000;
const SETTLE_RETRY_MS = 250;

async function convergeAfterReload(ctx: AgentContext, p: Plan, own: Ownership, log: Logger): Promise<ConvergeResult> {
  const deadline = ctx.clock.now() + RECONFIGURE_SETTLE_MS;
  for (;;) {
    try {
      if (p.primaryIpv4 !== undefined) {
        const want = p.primaryIpv4;
        await waitFor(ctx, DHCP_WAIT_MS, async () => (holdsAddress(await ctx.kernel.addresses(4), p.ifname, want) ? true : undefined));
      }
      return await converge(ctx.kernel, p, own, log);
    } catch (e) {
      if (ctx.clock.now() >= deadline || !isEc2netError(e) || (e.kind !== 'VerificationError' && e.kind !== 'PluginFailure')) throw e;
      log.debug({ err: e }, 'networkd is still reconfiguring the link: converging again');
      await ctx.clock.sleep(SETTLE_RETRY_MS);
    }
  }
}

/** Reads the admin's flags and IMDS, and plans; changes nothing. */
export async function planFor(ctx: AgentContext, link: Link, snap?: KernelSnapshot): Promise<{ meta: EniMetadata; plan: Plan; os: InterfaceFacts }> {
  const current = snap ?? (await ctx.kernel.snapshot());
  const meta = await readMeta(ctx, link, current);
  const os = await ctx.backend.facts(link);
  return { meta, os, plan: planWith(ctx, meta, link.name, os, kernelFactsIn(ctx, meta, link.name, current)) };
}

/** The ENI's metadata from IMDS, asked through the ENI itself once its source rule is in place; changes nothing. */
async function readMeta(ctx: AgentContext, link: Link, snap: KernelSnapshot): Promise<EniMetadata> {
  return readEni(ctx.imds(ownSourceAddress(ctx, snap, link.name)), ctx.clock, link.mac);
}

/** What the planner needs from the kernel, as the snapshot holds it: the IPv6 router, the primary's route metrics. */
export function kernelFactsIn(ctx: AgentContext, meta: EniMetadata, ifname: string, snap: KernelSnapshot): KernelFacts {
  return kernelFactsOf(snap, meta, ifname, ctx.config.settings.protocol);
}

/** What a plan is made from besides the metadata, as one string: equal inputs and metadata give equal plans. */
export function planInputs(ifname: string, os: InterfaceFacts, kernel: KernelFacts): string {
  return JSON.stringify([ifname, os.flags, os.renderer.key, kernel.ipv6Router ?? null, kernel.primaryRouteMetric ?? null]);
}

/** The plan for metadata already read. Pure. */
export function planWith(ctx: AgentContext, meta: EniMetadata, ifname: string, os: InterfaceFacts, kernel: KernelFacts): Plan {
  return plan({
    meta,
    ifname,
    flags: os.flags,
    renderer: os.renderer,
    settings: ctx.config.settings,
    ...kernel,
  });
}

/** The snapshot once router advertisements have named the ENI's IPv6 router, or undefined at the bound. */
async function awaitIpv6Router(ctx: AgentContext, p: Plan, meta: EniMetadata, os: InterfaceFacts): Promise<{ snap: KernelSnapshot; plan: Plan } | undefined> {
  return waitFor(ctx, IPV6_ROUTER_WAIT_MS, async () => {
    const snap = await ctx.kernel.snapshot();
    const next = planWith(ctx, meta, p.ifname, os, kernelFactsIn(ctx, meta, p.ifname, snap));
    return hasIpv6Default(next) ? { snap, plan: next } : undefined;
  });
}

/**
 * Two present ENIs never share a routing table: converging one would delete the other's rules and routes. A
 * freshly attached ENI can be given another's device-number while IMDS propagates; the run then fails Conflict
 * (retryable: the daemon tries again) and changes nothing. The table's holder is known by its record, or by routes
 * of ours in the table on another present interface.
 */
async function refuseSharedTable(ctx: AgentContext, p: Plan, link: Link, snap: KernelSnapshot): Promise<void> {
  const present = new Map(snap.links.map((l) => [l.mac, l.name]));
  const names = new Set(present.values());
  const record = await tableHolder(ctx, p.table, link.mac, new Set(present.keys()));
  const protocol = ctx.config.settings.protocol;
  const route = snap.routes.find((r) => r.table === p.table && r.protocol === protocol && r.dev !== link.name && names.has(r.dev));
  const holder = record ? `${record.eniId} on ${present.get(record.mac)}` : route ? `the ENI on ${route.dev}` : undefined;
  if (holder === undefined) return;
  throw new Ec2netError('Conflict', `routing table ${p.table} belongs to ${holder}; IMDS gives ${p.eniId} on ${link.name} the same device-number (not settled yet, or wrong): nothing changed`, {
    iface: link.name,
    eni: p.eniId,
    table: p.table,
    holder: record ? { eni: record.eniId, iface: present.get(record.mac), mac: record.mac } : { iface: route?.dev },
  });
}

/**
 * A default route router advertisements put in the main table before the ENI's RA metric was set (the link was
 * already up) keeps the old metric (1024, the primary's too) until it expires: the kernel reads ra_defrtr_metric
 * only when it adds the route, and an RA that finds it with another metric deletes it and adds it again with the
 * new one. Until then the two ENIs' defaults tie, and replies from the primary's IPv6 address can leave by this
 * ENI. It is deleted at once: the ENI's own table keeps its default, and the next RA adds it at the right metric.
 */
async function dropStaleRaDefault(ctx: AgentContext, snap: KernelSnapshot, ifname: string, metric: number, log: Logger): Promise<boolean> {
  const stale = snap.routes.filter((r) => r.family === 6 && r.table === MAIN_TABLE && r.dst === '::/0' && r.dev === ifname && r.protocol === RTPROT_RA && r.metric !== metric);
  for (const r of stale) {
    await ctx.kernel.delRoute(r);
    log.info({ gateway: r.gateway, metric: r.metric, wanted: metric }, "removed the RA default route learned before this ENI's metric was set; the next RA adds it back at that metric");
  }
  return stale.length > 0;
}

export interface IfupOptions {
  /**
   * Run by ec2netd or ec2ifscan rather than by an admin: an interface ec2ifdown took down stays down. Checked under
   * the lock, so an ec2ifdown that is running when this run starts wins.
   */
  readonly automatic?: boolean;
}

export async function ifup(ctx: AgentContext, ifname: string, opts: IfupOptions = {}): Promise<IfupResult> {
  const link = await linkWithMac(ctx, ifname);
  const lock = await acquireLock(lockPath(ctx.paths, ifname), ctx.clock.sleep, ctx.clock.now);
  try {
    const log = ctx.log.child({ iface: ifname, mac: link.mac });
    const previous = await readRecord(ctx, link.mac);
    if (opts.automatic && previous?.down && previous.ifname === ifname) {
      log.debug({ reason: 'ec2ifdown took it down' }, 'leaving interface alone');
      return { ifname, skipped: 'taken down by ec2ifdown (ec2ifup brings it back)', down: true, changed: false };
    }
    const snap = await ctx.kernel.snapshot();
    const skipped = await ctx.backend.declines(link);
    if (skipped !== undefined) {
      log.warn({ reason: skipped }, 'leaving interface alone');
      return { ifname, skipped, changed: false };
    }
    const meta = await readMeta(ctx, link, snap);
    // Before anything of the interface's own config is read: another agent's files are not ours to judge.
    const unmanaged = unmanagedBy(ctx.config, { ifname, mac: link.mac, eniId: meta.eniId, deviceNumber: meta.deviceNumber, networkCard: meta.networkCard });
    if (unmanaged !== undefined) {
      const skipped = `UNMANAGED=${unmanaged} in ec2net.conf: left to another agent`;
      // Recorded, so that status shows it; what earlier runs added stays listed for a detach to clean up.
      const kept = previous?.ifname === ifname ? previous : undefined;
      await writeRecord(ctx, {
        mac: link.mac, eniId: meta.eniId, ifname, table: tableId(meta.networkCard, meta.deviceNumber), deviceNumber: meta.deviceNumber, networkCard: meta.networkCard,
        primary: meta.isPrimary, converged: false, addresses: kept?.addresses ?? [], files: kept?.files ?? [], unmanaged,
      });
      log.info({ reason: skipped, eni: meta.eniId }, 'leaving interface alone');
      return { ifname, skipped, unmanaged, changed: false };
    }
    const os = await ctx.backend.facts(link);
    let p = planWith(ctx, meta, link.name, os, kernelFactsIn(ctx, meta, link.name, snap));
    if (p.skip) {
      log.info({ reason: p.skip }, 'leaving interface alone');
      return { ifname, skipped: p.skip, changed: false, plan: p, meta };
    }

    await refuseSharedTable(ctx, p, link, snap);

    const owned = new Set(previous?.ifname === ifname ? previous.addresses : []);
    const written = (plan: Plan) => [...new Set([...(previous?.files ?? []), ...plan.files.map((f) => f.path)])];
    const record = { mac: link.mac, eniId: p.eniId, ifname, table: p.table, deviceNumber: meta.deviceNumber, networkCard: meta.networkCard, primary: meta.isPrimary };
    const desiredAddresses = p.addresses.map((a) => a.address);
    // The record goes first, with the union of old and new addresses: a run that is killed, or whose device
    // goes, at any later point leaves what a cleanup needs to find its files, DHCP client, rules and addresses.
    await writeRecord(ctx, { ...record, converged: false, addresses: [...new Set([...owned, ...desiredAddresses])], files: written(p) });

    // The OS config and the persistent name are independent files: written together.
    const [filesChanged, named] = await Promise.all([ctx.backend.write(p.files), rememberName(ctx, link.mac, ifname, log)]);
    let changed = filesChanged || named;
    let reconfiguring = filesChanged && ctx.backend.reconfiguresOnWrite;
    if (os.note) log[filesChanged ? 'info' : 'debug']({ ...os.note.fields, files: p.files.map((f) => f.path) }, os.note.message);
    if (p.raRouteMetric !== undefined) {
      // The kernel handles this ENI's router advertisements. Before the link comes up: the first RA then installs
      // its default route with this metric.
      if (await ctx.kernel.setRaRouteMetric(ifname, p.raRouteMetric)) changed = true;
      if (await dropStaleRaDefault(ctx, snap, ifname, p.raRouteMetric, log)) changed = true;
      // Docker and Kubernetes turn forwarding on, at boot or any time later; with accept_ra=1 the kernel then
      // ignores RAs, and the ENI's IPv6 router (its table's default route) is never learned.
      if (await ctx.kernel.acceptRaWhileForwarding(ifname)) changed = true;
    }
    // After activation the snapshot is stale (DHCP added the address); otherwise it is what converge starts from.
    const activated = p.activated && (await activate(ctx, p, link, snap));
    let current: KernelSnapshot | undefined = activated ? undefined : snap;
    let routerMissing = false;
    if (p.wantsIpv6Router && !hasIpv6Default(p)) {
      const found = await awaitIpv6Router(ctx, p, meta, os);
      if (found) {
        ({ snap: current, plan: p } = found);
        if (await ctx.backend.write(p.files)) {
          changed = true;
          reconfiguring ||= ctx.backend.reconfiguresOnWrite;
        }
      } else {
        routerMissing = true;
      }
    }
    const altnames = p.altnames.filter((a) => !link.altnames.includes(a));
    for (const altname of altnames) await ctx.kernel.addAltname(ifname, altname);
    if (altnames.length > 0) {
      changed = true;
      current = undefined;
    }

    const own = { protocol: ctx.config.settings.protocol, ownedAddresses: owned };
    const { applied } = reconfiguring ? await convergeAfterReload(ctx, p, own, log) : await converge(ctx.kernel, p, own, log, current);
    if (routerMissing) {
      // Everything else is in place; the table's IPv6 default route waits for an RA, and the run says so.
      throw new Ec2netError('Transient', 'no router advertisement has named the IPv6 router yet', { iface: ifname, waitedMs: IPV6_ROUTER_WAIT_MS });
    }
    // Files the plan no longer has (a networkd unit that became a drop-in, or back, when another generator's file
    // appeared or went) go. One this backend does not remove (another backend's, from before BACKEND changed) stays
    // listed: the record is what finds it again.
    const paths = new Set(p.files.map((f) => f.path));
    const stale = (previous?.files ?? []).filter((f) => !paths.has(f));
    if (stale.length > 0 && (await ctx.backend.removeStale(stale, link.mac))) changed = true;
    const left: string[] = [];
    for (const f of stale) if (await exists(f)) left.push(f);
    await writeRecord(ctx, { ...record, converged: true, addresses: desiredAddresses, files: [...paths, ...left] });
    const counts = summarize(applied);
    if (Object.values(counts).some((n) => n > 0)) changed = true;
    // A refresh that changes nothing runs every minute for every ENI: it is not news.
    log[changed ? 'info' : 'debug']({ eni: p.eniId, table: p.table, ...counts }, 'interface converged');
    return { ifname, changed, plan: p, meta };
  } finally {
    await lock.release();
  }
}
