/**
 * ec2netd: keeps every ENI converged. It learns of devices from rtnetlink (udev events get lost at boot), reads
 * IMDS on a jittered period because addresses change with no event on the instance, repairs what someone deletes
 * from its own state, and cleans up after detached ENIs. Work is queued per MAC (queue.ts); every wait inside a
 * job is bounded by the flows it calls.
 */
import { cleanupDetached, detach, readRecords } from '../agent/detach.js';
import type { AgentContext } from '../agent/context.js';
import { ifup, readRecord } from '../agent/ifup.js';
import { isEc2netError } from '../errors.js';
import type { Plan } from '../planner/plan.js';
import { converge } from '../reconcile/converge.js';
import type { EventSource, KernelEvent } from '../ports/netlink-events.js';
import { KeyedQueue, type JobKind, type Scheduler } from './queue.js';

export interface DaemonOptions {
  /** Mean period between IMDS refreshes of one ENI; each one is jittered by ±20 %. */
  readonly refreshMs: number;
  readonly concurrency: number;
  readonly debounceMs: number;
  readonly scheduler: Scheduler;
  readonly subscribe: (listener: (e: KernelEvent) => void) => EventSource;
}

/** Drift repairs of one ENI allowed within REPAIR_WINDOW_MS before the daemon backs off. */
export const MAX_REPAIRS_PER_WINDOW = 5;
export const REPAIR_WINDOW_MS = 60_000;
/** Backoff after a failed configure, doubling up to the refresh period. */
const RETRY_BASE_MS = 2_000;

export interface EniStatus {
  mac: string;
  ifname: string;
  eniId?: string;
  /** Not an ENI of this instance (IMDS does not list the MAC): watched, never configured. */
  foreign?: boolean;
  plan?: Plan;
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
  private readonly refreshTimers = new Map<string, () => void>();
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
    });
  }

  /** Subscribes first, so nothing that happens during the startup scan is missed, then scans. */
  async start(): Promise<void> {
    this.events = this.opts.subscribe((e) => this.onEvent(e));
    await this.resync('startup');
    await this.queue.idle();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.events?.close();
    for (const cancel of this.refreshTimers.values()) cancel();
    this.refreshTimers.clear();
    this.queue.stop();
    await this.queue.idle();
  }

  status(): EniStatus[] {
    return [...this.enis.values()].filter((e) => !e.foreign).map((e) => ({ ...e }));
  }

  pending(): string[] {
    return this.queue.busy();
  }

  /** Everything that changed while nobody watched: gone ENIs are cleaned up, present ones configured. */
  private async resync(reason: string): Promise<void> {
    const log = this.ctx.log.child({ reason });
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
    this.track(mac, name);
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

  private async run(mac: string, job: JobKind): Promise<void> {
    const s = this.enis.get(mac);
    if (!s) return;
    const log = this.ctx.log.child({ iface: s.ifname, mac, job });
    try {
      if (job === 'detach') return await this.runDetach(s);
      if (job === 'repair') return await this.runRepair(s);
      await this.runConfigure(s);
    } catch (e) {
      const kind = isEc2netError(e) ? e.kind : 'Bug';
      s.lastError = { at: this.ctx.clock.now(), kind, message: e instanceof Error ? e.message : String(e) };
      log.error({ kind, ...(isEc2netError(e) ? e.fields : {}) }, s.lastError.message);
      if (job !== 'detach' && this.enis.has(mac)) {
        s.failures++;
        this.scheduleRefresh(mac, Math.min(this.opts.refreshMs, RETRY_BASE_MS * 2 ** Math.min(s.failures, 10)));
      }
    }
  }

  private async runConfigure(s: EniStatus): Promise<void> {
    const link = (await this.ctx.kernel.links()).find((l) => l.mac === s.mac);
    if (!link) return; // gone before its turn: the DELLINK event queues the detach
    s.ifname = link.name;
    try {
      const result = await ifup(this.ctx, link.name);
      if (result.plan) {
        s.plan = result.plan;
        s.eniId = result.plan.eniId;
      }
      s.lastRefresh = this.ctx.clock.now();
      s.lastError = undefined;
      s.failures = 0;
      this.scheduleRefresh(s.mac, this.jitteredPeriod());
    } catch (e) {
      if (isEc2netError(e, 'NotFound') && e.fields.mac === s.mac) {
        // IMDS does not list the MAC: a docker bridge, a veth, a tunnel. Watched no further until it changes.
        s.foreign = true;
        this.ctx.log.debug({ iface: link.name, mac: s.mac }, 'not an ENI of this instance');
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
        this.opts.scheduler.after(s.backedOffUntil - now, () => this.queue.push(s.mac, 'repair'));
      }
      return;
    }
    s.repairs.push(now);
    const record = await readRecord(this.ctx, s.mac);
    const own = { protocol: this.ctx.config.settings.protocol, ownedAddresses: new Set(record?.addresses ?? []) };
    const { applied } = await converge(this.ctx.kernel, s.plan, own, this.ctx.log.child({ iface: s.ifname, mac: s.mac, job: 'repair' }));
    if (applied.addRules.length + applied.addRoutes.length + applied.addAddresses.length > 0) {
      this.ctx.log.info({ iface: s.ifname, mac: s.mac }, 'drift repaired');
    }
  }

  private async runDetach(s: EniStatus): Promise<void> {
    this.refreshTimers.get(s.mac)?.();
    this.refreshTimers.delete(s.mac);
    const record = (await readRecords(this.ctx)).find((r) => r.mac === s.mac);
    if (record) await detach(this.ctx, record);
    // Re-attached before its detach ran (the two collapsed into one job): configure it again.
    if ((await this.ctx.kernel.links()).some((l) => l.mac === s.mac)) this.queue.push(s.mac, 'configure');
    else this.enis.delete(s.mac);
  }
}
