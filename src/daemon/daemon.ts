/**
 * ec2netd: keeps every ENI converged. It learns of devices from rtnetlink (udev events get lost at boot), reads
 * IMDS on a jittered period because addresses change with no event on the instance, repairs what someone deletes
 * from its own state, and cleans up after detached ENIs. Work is queued per MAC (queue.ts); every wait inside a
 * job is bounded by the flows it calls.
 *
 * The periodic refresh is one round over every ENI: one kernel snapshot and one IMDS walk, a plan per ENI, and a
 * diff against the snapshot. Only an ENI whose plan or kernel state differs gets a full configure job (files,
 * activation, apply, verify); a round that finds nothing to do writes nothing and starts no process. What a round
 * keeps for the next (parsed metadata, plans, what a snapshot verified) is in one place, round-cache.ts.
 */
import { cleanupDetached, detach } from '../agent/detach.js';
import type { AgentContext } from '../agent/context.js';
import { ifup, kernelFactsIn, planInputs, planWith, readRecord } from '../agent/ifup.js';
import { Ec2netError, isEc2netError, toEc2netError } from '../errors.js';
import type { Plan } from '../planner/plan.js';
import { converge, indexSnapshot, unconverged, type SnapshotIndex } from '../reconcile/converge.js';
import { listEniMacs, readAddressAnswers, topLevelMac, withAddresses } from '../imds/eni.js';
import type { EniMetadata } from '../model/metadata.js';
import type { ImdsClient } from '../imds/client.js';
import { readText } from '../ports/files.js';
import { acquireLock, lockPath } from '../ports/lock.js';
import type { KernelSnapshot } from '../ports/kernel.js';
import type { EventSource, KernelEvent } from '../ports/netlink-events.js';
import { KeyedQueue, type JobKind, type Scheduler } from './queue.js';
import { RoundCache, type Verified } from './round-cache.js';

export interface DaemonOptions {
  /** Mean period between IMDS refreshes of one ENI; each one is jittered by ±20 %. */
  readonly refreshMs: number;
  readonly concurrency: number;
  readonly debounceMs: number;
  readonly scheduler: Scheduler;
  readonly subscribe: (listener: (e: KernelEvent) => void) => EventSource;
  /** CPU time this process has used, in µs; the daemon reports what each refresh round cost. */
  readonly cpuMicros?: () => number;
  /** Called each time the daemon's work queue drains (the moment to give a burst's garbage back). */
  readonly drained?: () => void;
  /**
   * Resolves once udev is done with a device that appeared (renamed it, recorded it), bounded, with whether it
   * had to wait (the name may have changed meanwhile); the first configure of a link waits for it (ports/udev.ts).
   */
  readonly deviceSettled?: (index: number, name: string) => Promise<boolean>;
}

export interface RoundFigures {
  readonly at: number;
  readonly enis: number;
  /** ENIs the round found unsettled and queued for a full configure. */
  readonly queued: number;
  /** Whether the round read the kernel (false: no notification since every ENI was last verified). */
  readonly snapshot: boolean;
  readonly cpuMicros: number;
  readonly wallMs: number;
}

/** Drift repairs of one ENI allowed within REPAIR_WINDOW_MS before the daemon backs off. */
export const MAX_REPAIRS_PER_WINDOW = 5;
export const REPAIR_WINDOW_MS = 60_000;
/** Backoff after a failed configure or round, doubling up to the refresh period. */
const RETRY_BASE_MS = 2_000;
/** The first re-check of a device IMDS does not list; doubling up to the refresh period, then every round. */
const FOREIGN_RECHECK_BASE_MS = 500;
/** The queue key of the refresh round; no MAC looks like it. */
const ROUND = 'refresh-round';

export interface EniStatus {
  mac: string;
  ifname: string;
  eniId?: string;
  /**
   * Not an ENI of this instance, as far as IMDS's MAC listing says: watched, not configured. An ENI's MAC can be
   * listed seconds after its device appears, so this is checked again: on a short backoff after the link appears
   * (FOREIGN_RECHECK_BASE_MS, doubling up to the refresh period), then against every refresh round's listing.
   */
  foreign?: boolean;
  /** How many times a foreign device has been checked again since it appeared. */
  foreignChecks?: number;
  /** Taken down by ec2ifdown (its record says so): no repair, refresh or configure until ec2ifup or a detach. */
  adminDown?: boolean;
  /** Left to another agent by UNMANAGED in ec2net.conf (the word that matched): watched, never configured. */
  unmanaged?: string;
  plan?: Plan;
  meta?: EniMetadata;
  lastRefresh?: number;
  lastError?: { at: number; kind: string; message: string };
  driftSeen: number;
  lastDriftAt?: number;
  repairs: number[];
  failures: number;
  backedOffUntil?: number;
}

export class Ec2netDaemon {
  private readonly enis = new Map<string, EniStatus>();
  private readonly byIndex = new Map<number, { mac: string; name: string }>();
  /** Retry timers of ENIs whose last job failed. */
  private readonly refreshTimers = new Map<string, () => void>();
  private cancelRound: (() => void) | undefined;
  /** Repairs put off while an ENI's state keeps being deleted. */
  private readonly repairTimers = new Map<string, () => void>();
  private roundFailures = 0;
  /** What refresh rounds keep for the next one: parsed metadata, plans, what snapshots verified. */
  private readonly cache = new RoundCache();
  private roundClient: ImdsClient | undefined;
  private lastRoundFigures: RoundFigures | undefined;
  private readonly queue: KeyedQueue;
  private events: EventSource | undefined;
  private stopping = false;
  readonly startedAt: number;

  constructor(private readonly ctx: AgentContext, private readonly opts: DaemonOptions) {
    this.startedAt = ctx.clock.now();
    this.queue = new KeyedQueue({
      concurrency: opts.concurrency,
      debounceMs: opts.debounceMs,
      scheduler: opts.scheduler,
      run: (mac, job) => this.run(mac, job),
      drained: opts.drained,
    });
  }

  /** Subscribes first, so nothing that happens during the startup scan is missed, then scans. */
  async start(): Promise<void> {
    this.events = this.opts.subscribe((e) => this.onEvent(e));
    await this.resync('startup');
    await this.queue.idle();
    this.scheduleRound(this.jitteredPeriod());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.events?.close();
    for (const cancel of this.refreshTimers.values()) cancel();
    this.refreshTimers.clear();
    for (const cancel of this.repairTimers.values()) cancel();
    this.repairTimers.clear();
    this.cancelRound?.();
    this.queue.stop();
    await this.queue.idle();
  }

  /** No job queued or running, the refresh round included. */
  quiet(): boolean {
    return this.queue.busy().length === 0;
  }

  status(): EniStatus[] {
    return [...this.enis.values()].filter((e) => !e.foreign).map((e) => ({ ...e }));
  }

  /** ENIs with work queued or running (the refresh round is not work of one ENI). */
  pending(): string[] {
    return this.queue.busy().filter((k) => k !== ROUND);
  }

  /** Everything that changed while nobody watched: gone ENIs are cleaned up, present ones configured. */
  private async resync(reason: string): Promise<void> {
    const log = this.ctx.log.child({ reason });
    // Every link is configured again: the rounds start over from what those runs find.
    this.cache.clear();
    try {
      const cleaned = await cleanupDetached(this.ctx);
      if (cleaned.length > 0) log.info({ macs: cleaned }, 'cleaned up ENIs detached while unwatched');
    } catch (e) {
      log.error({ err: e }, 'cleanup of detached ENIs failed');
    }
    for (const link of await this.ctx.kernel.links()) this.noteLink(link.index, link.name, link.mac, true);
  }

  private noteLink(index: number, name: string, mac: string, force: boolean): void {
    if (name === 'lo' || mac === '00:00:00:00:00:00') return;
    const before = this.byIndex.get(index);
    this.byIndex.set(index, { mac, name });
    const known = this.enis.get(mac);
    if (known && known.ifname !== name) known.ifname = name;
    if (!force && before?.mac === mac && before.name === name) return;
    if (known?.foreign && before?.mac === mac) return;
    const s = this.track(mac, name);
    if (before?.mac !== mac) {
      // A device that appears (again) is configured at once: the debounce is for bursts of events on a link the
      // daemon knows (a rename, a flap), and the first job's run collapses whatever comes while it runs into one
      // follow-up. It is checked against IMDS on the short backoff from the start.
      s.foreignChecks = 0;
      this.queue.push(mac, 'configure', 0);
      return;
    }
    this.queue.push(mac, 'configure');
  }

  private track(mac: string, ifname: string): EniStatus {
    let s = this.enis.get(mac);
    if (!s) {
      s = { mac, ifname, driftSeen: 0, repairs: [], failures: 0 };
      this.enis.set(mac, s);
    }
    return s;
  }

  private onEvent(e: KernelEvent): void {
    this.cache.kernelChanged();
    if (this.stopping) return;
    const protocol = this.ctx.config.settings.protocol;
    switch (e.kind) {
      case 'link':
        if (e.op === 'new') this.noteLink(e.index, e.name, e.mac, false);
        else {
          const gone = this.byIndex.get(e.index);
          this.byIndex.delete(e.index);
          const mac = gone?.mac ?? e.mac;
          if (mac !== '00:00:00:00:00:00' && !this.enis.get(mac)?.foreign) this.queue.push(mac, 'detach');
          else this.enis.delete(mac);
        }
        return;
      case 'rule':
        if (e.op === 'del' && e.protocol === protocol) this.drift(this.macForTable(e.table));
        return;
      case 'route':
        if (e.op === 'del' && e.protocol === protocol) this.drift(this.macForTable(e.table) ?? this.byIndex.get(e.oif ?? -1)?.mac);
        return;
      case 'address': {
        if (e.op !== 'del') return;
        const mac = this.byIndex.get(e.index)?.mac;
        const plan = mac ? this.enis.get(mac)?.plan : undefined;
        if (plan?.addresses.some((a) => a.address === e.address)) this.drift(mac);
        return;
      }
      case 'overflow':
        this.ctx.log.warn({ reason: e.reason }, 'kernel notifications lost: resynchronising');
        void this.resync('overflow');
        return;
    }
  }

  private macForTable(table: number): string | undefined {
    for (const s of this.enis.values()) if (s.plan?.table === table) return s.mac;
    return undefined;
  }

  private drift(mac: string | undefined): void {
    const s = mac ? this.enis.get(mac) : undefined;
    if (!s?.plan) return;
    s.driftSeen++;
    s.lastDriftAt = this.ctx.clock.now();
    this.queue.push(s.mac, 'repair');
  }

  private scheduleRefresh(mac: string, delayMs: number): void {
    this.refreshTimers.get(mac)?.();
    if (this.stopping) return;
    this.refreshTimers.set(
      mac,
      this.opts.scheduler.after(delayMs, () => {
        this.refreshTimers.delete(mac);
        this.queue.push(mac, 'configure');
      }),
    );
  }

  private jitteredPeriod(): number {
    return Math.round(this.opts.refreshMs * (0.8 + 0.4 * this.ctx.clock.random()));
  }

  private scheduleRound(delayMs: number): void {
    this.cancelRound?.();
    if (this.stopping) return;
    this.cancelRound = this.opts.scheduler.after(delayMs, () => {
      this.cancelRound = undefined;
      this.queue.push(ROUND, 'configure', 0);
    });
  }

  lastRound(): RoundFigures | undefined {
    return this.lastRoundFigures;
  }

  /**
   * Refreshes every configured ENI from one IMDS walk and one kernel snapshot; queues full jobs only where needed.
   * Every change to links, addresses, routes and rules comes as a notification (a lost one as an overflow, which
   * counts too): when none has come since each ENI was last verified against a snapshot, the kernel still holds
   * what that snapshot showed, and the round reads IMDS and the ENIs' files only.
   */
  private async runRound(): Promise<void> {
    await this.recheckDown();
    const due = [...this.enis.values()].filter((s) => !s.foreign && !s.adminDown && s.plan && s.meta);
    const foreign = [...this.enis.values()].filter((s) => s.foreign);
    const cpu0 = this.opts.cpuMicros?.() ?? 0;
    const t0 = this.ctx.clock.now();
    let failed = false;
    try {
      if (due.length === 0 && foreign.length === 0) return;
      const client = (this.roundClient ??= this.ctx.imds());
      if (due.length === 0) return this.recheckForeign(foreign, await listEniMacs(client));
      // Read before the dump: a change after this point bumps it, and the next round reads the kernel again.
      const generation = this.cache.kernelGeneration();
      // Looked up once, here: a notification that comes while IMDS is read makes the next round dump the kernel,
      // not this one skip the ENI.
      const verified = new Map(due.map((s) => [s.mac, this.cache.verified(s.mac, s.plan)]));
      const unchanged = [...verified.values()].every((v) => v !== undefined);
      const [snap, macs, primaryMac] = await Promise.all([unchanged ? undefined : this.ctx.kernel.snapshot(), listEniMacs(client), topLevelMac(client)]);
      this.recheckForeign(foreign, macs);
      // One snapshot, indexed once, for every ENI.
      const kernel = snap ? { snap, index: indexSnapshot(snap), generation } : undefined;
      const queued = await Promise.all(due.map((s) => this.refreshOne(s, kernel ?? verified.get(s.mac), macs, primaryMac, client)));
      this.lastRoundFigures = {
        at: t0,
        enis: due.length,
        queued: queued.filter(Boolean).length,
        snapshot: snap !== undefined,
        cpuMicros: (this.opts.cpuMicros?.() ?? 0) - cpu0,
        wallMs: this.ctx.clock.now() - t0,
      };
    } catch (e) {
      failed = true;
      const err = toEc2netError(e);
      const lastError = { at: this.ctx.clock.now(), kind: err.kind, message: err.message };
      for (const s of due) s.lastError = lastError;
      this.ctx.log.error({ kind: err.kind, ...err.fields }, err.message);
    } finally {
      this.roundFailures = failed ? this.roundFailures + 1 : 0;
      this.scheduleRound(failed ? this.retryDelay(this.roundFailures) : this.jitteredPeriod());
    }
  }

  /** A device IMDS lists now after all (its ENI propagated late) is configured. */
  private recheckForeign(foreign: readonly EniStatus[], macs: readonly string[]): void {
    for (const s of foreign) {
      if (!macs.includes(s.mac)) continue;
      s.foreign = false;
      this.queue.push(s.mac, 'configure');
    }
  }

  /** An ENI ec2ifdown took down is taken up again by ec2ifup, which rewrites its record: configure it from then on. */
  private async recheckDown(): Promise<void> {
    for (const s of this.enis.values()) {
      if (!s.adminDown) continue;
      const record = await readRecord(this.ctx, s.mac);
      if (record?.down) continue;
      s.adminDown = false;
      this.queue.push(s.mac, 'configure');
    }
  }

  /**
   * Returns whether the ENI was queued for a full configure. Without a snapshot (see runRound) the ENI's kernel
   * state is as it was verified, and only IMDS and its file can have changed.
   */
  private async refreshOne(
    s: EniStatus,
    from: { snap: KernelSnapshot; index: SnapshotIndex; generation: number } | Verified | undefined,
    macs: readonly string[],
    primaryMac: string,
    client: ImdsClient,
  ): Promise<boolean> {
    const kernel = from && 'snap' in from ? from : undefined;
    const verified = from && !('snap' in from) ? from : undefined;
    const link = kernel ? kernel.snap.links.find((l) => l.mac === s.mac) : verified?.link;
    const previous = s.plan;
    if (!link || !previous || !s.meta) return false; // gone: its DELLINK queues the detach
    const configure = () => {
      this.cache.forget(s.mac);
      this.queue.push(s.mac, 'configure');
      return true;
    };
    if (!macs.includes(s.mac)) {
      // The device is there, so the ENI is attached: a listing without it (or without every ENI at once) is IMDS
      // propagating or blipping. Nothing is undone for it, and the next round asks again.
      s.lastError = { at: this.ctx.clock.now(), kind: 'Transient', message: 'IMDS does not list this ENI now' };
      this.ctx.log.warn({ iface: s.ifname, mac: s.mac, kind: 'Transient' }, 'IMDS does not list this ENI now: left as it is');
      return false;
    }
    if (link.name !== s.ifname) return configure();
    try {
      const [answers, os] = await Promise.all([readAddressAnswers(client, s.meta, primaryMac), this.ctx.backend.facts(link)]);
      // Answers unchanged since the last round give the very metadata (and then plan) object that round made:
      // parsing 100 addresses costs more than the requests did, and the comparisons below are by identity.
      const meta = this.cache.metadata(s.mac, answers.key) ?? this.cache.keepMetadata(s.mac, answers.key, withAddresses(s.meta, answers));
      const facts = kernel ? kernelFactsIn(this.ctx, meta, link.name, kernel.snap) : (verified?.kernel ?? {});
      const inputs = planInputs(link.name, os, facts);
      const next = this.cache.plan(s.mac, meta, inputs) ?? this.cache.keepPlan(s.mac, meta, inputs, planWith(this.ctx, meta, link.name, os, facts));
      const first = next.files[0];
      // The ifcfg file was read for its flags a moment ago: compare that text rather than read it again.
      const text = first === undefined ? undefined : os.read.has(first.path) ? os.read.get(first.path) : await readText(first.path);
      const settled =
        (next === previous || JSON.stringify(next) === JSON.stringify(previous)) &&
        // The ifcfg file or networkd unit as the last configure wrote it (the primary's are the image's).
        (first === undefined || text === first.content) &&
        (kernel === undefined || this.kernelSettled(next, previous, kernel.snap, kernel.index));
      if (!settled) return configure();
      // The same plan, planned from this round's metadata: kept, so that the next round, asking IMDS again with
      // this metadata and getting the same answers, gets this very plan back and compares nothing.
      s.plan = next;
      s.meta = meta;
      if (kernel) this.cache.keepVerified(s.mac, kernel.generation, { plan: next, link, kernel: facts });
      s.lastRefresh = this.ctx.clock.now();
      s.lastError = undefined;
    } catch (e) {
      const err = toEc2netError(e);
      s.lastError = { at: this.ctx.clock.now(), kind: err.kind, message: err.message };
      this.ctx.log.error({ iface: s.ifname, mac: s.mac, kind: err.kind, ...err.fields }, err.message);
    }
    return false;
  }

  /** Whether the snapshot holds everything the plan asks for (the one definition: reconcile/converge.ts). */
  private kernelSettled(next: Plan, previous: Plan, snap: KernelSnapshot, index: SnapshotIndex): boolean {
    const own = { protocol: this.ctx.config.settings.protocol, ownedAddresses: new Set(previous.addresses.map((a) => a.address)) };
    return unconverged(next, snap, own, index).problems.length === 0;
  }

  private retryDelay(failures: number): number {
    return Math.min(this.opts.refreshMs, RETRY_BASE_MS * 2 ** Math.min(failures, 10));
  }

  private async run(mac: string, job: JobKind): Promise<void> {
    if (mac === ROUND) return this.runRound();
    const s = this.enis.get(mac);
    if (!s) return;
    const log = this.ctx.log.child({ iface: s.ifname, mac, job });
    try {
      if (job === 'detach') return await this.runDetach(s);
      if (job === 'repair') return await this.runRepair(s);
      await this.runConfigure(s);
    } catch (e) {
      const err = toEc2netError(e);
      s.lastError = { at: this.ctx.clock.now(), kind: err.kind, message: err.message };
      log.error({ kind: err.kind, ...err.fields }, err.message);
      if (job !== 'detach' && this.enis.has(mac)) {
        s.failures++;
        // What cannot succeed until something changes (a refused IMDS value, a bad file) is tried once a period.
        this.scheduleRefresh(mac, err.retryable ? this.retryDelay(s.failures) : this.opts.refreshMs);
      }
    }
  }

  private async runConfigure(s: EniStatus): Promise<void> {
    let link = (await this.ctx.kernel.links()).find((l) => l.mac === s.mac);
    if (link && !s.plan && (await this.opts.deviceSettled?.(link.index, link.name))) {
      // Under the name udev gave it.
      link = (await this.ctx.kernel.links()).find((l) => l.mac === s.mac);
    }
    if (!link) return; // gone before its turn: the DELLINK event queues the detach
    s.ifname = link.name;
    try {
      const result = await ifup(this.ctx, link.name, { automatic: true });
      // The ENI's metadata and plan are this run's now: nothing an earlier round kept for it holds.
      this.cache.forget(s.mac);
      s.foreign = false;
      s.adminDown = result.down === true;
      if (result.down) return;
      if (result.unmanaged !== undefined) {
        s.unmanaged = result.unmanaged;
        s.plan = undefined;
        s.meta = undefined;
        return;
      }
      s.unmanaged = undefined;
      if (result.plan) {
        s.plan = result.plan;
        s.meta = result.meta;
        s.eniId = result.plan.eniId;
      }
      s.lastRefresh = this.ctx.clock.now();
      s.lastError = undefined;
      s.failures = 0;
      this.refreshTimers.get(s.mac)?.();
      this.refreshTimers.delete(s.mac);
    } catch (e) {
      if (isEc2netError(e, 'NotAnEni') && e.fields.mac === s.mac) {
        if (s.plan) {
          // Configured before, and its device is still there: the listing is propagating or blipping.
          throw new Ec2netError('Transient', 'IMDS does not list this ENI now', { iface: link.name, mac: s.mac }, { cause: e });
        }
        // IMDS does not list the MAC: a docker bridge, a veth, a tunnel, or an ENI IMDS does not list yet.
        s.foreign = true;
        const checks = s.foreignChecks ?? 0;
        const delay = FOREIGN_RECHECK_BASE_MS * 2 ** checks;
        this.ctx.log.debug({ iface: link.name, mac: s.mac, recheckMs: delay < this.opts.refreshMs ? delay : undefined }, 'not an ENI of this instance (yet)');
        if (delay < this.opts.refreshMs) {
          s.foreignChecks = checks + 1;
          this.scheduleRefresh(s.mac, delay);
        }
        return;
      }
      throw e;
    }
  }

  /** Re-applies the last plan without asking IMDS: what was deleted is put back as it was. */
  private async runRepair(s: EniStatus): Promise<void> {
    if (!s.plan) return;
    const now = this.ctx.clock.now();
    s.repairs = s.repairs.filter((t) => now - t < REPAIR_WINDOW_MS);
    if (s.repairs.length >= MAX_REPAIRS_PER_WINDOW) {
      // Something keeps deleting our state: fighting it in a loop helps nobody. Try again after the window.
      if (s.backedOffUntil === undefined || s.backedOffUntil < now) {
        s.backedOffUntil = (s.repairs[0] as number) + REPAIR_WINDOW_MS;
        this.ctx.log.warn({ iface: s.ifname, mac: s.mac, repairs: s.repairs.length, windowMs: REPAIR_WINDOW_MS }, 'state keeps being deleted: backing off repairs');
        this.repairTimers.get(s.mac)?.();
        this.repairTimers.set(
          s.mac,
          this.opts.scheduler.after(s.backedOffUntil - now, () => {
            this.repairTimers.delete(s.mac);
            this.queue.push(s.mac, 'repair');
          }),
        );
      }
      return;
    }
    s.repairs.push(now);
    // Under the interface's lock, as every run that changes it: an ec2ifdown deleting this ENI's state raises the
    // very notifications that queued this repair, and must have finished (and marked the record down) first.
    const lock = await acquireLock(lockPath(this.ctx.paths, s.ifname), this.ctx.clock.sleep, this.ctx.clock.now);
    try {
      const record = await readRecord(this.ctx, s.mac);
      if (!record || record.down) {
        s.adminDown = record?.down === true;
        return;
      }
      const own = { protocol: this.ctx.config.settings.protocol, ownedAddresses: new Set(record.addresses) };
      const { applied } = await converge(this.ctx.kernel, s.plan, own, this.ctx.log.child({ iface: s.ifname, mac: s.mac, job: 'repair' }));
      if (applied.addRules.length + applied.addRoutes.length + applied.addAddresses.length > 0) {
        this.ctx.log.info({ iface: s.ifname, mac: s.mac }, 'drift repaired');
      }
    } finally {
      await lock.release();
    }
  }

  private async runDetach(s: EniStatus): Promise<void> {
    this.cache.forget(s.mac);
    this.refreshTimers.get(s.mac)?.();
    this.refreshTimers.delete(s.mac);
    this.repairTimers.get(s.mac)?.();
    this.repairTimers.delete(s.mac);
    const record = await readRecord(this.ctx, s.mac);
    if (record) await detach(this.ctx, record);
    // Re-attached before its detach ran (the two collapsed into one job): configure it again.
    if ((await this.ctx.kernel.links()).some((l) => l.mac === s.mac)) this.queue.push(s.mac, 'configure');
    else this.enis.delete(s.mac);
  }
}
