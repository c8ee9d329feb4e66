/**
 * What the daemon's refresh round keeps from one round to the next, in one place. A quiet round (nothing changed
 * in IMDS or the kernel) then parses nothing, plans nothing and reads no kernel state: it gets back the very
 * metadata and plan objects of the round before and compares them by identity.
 *
 * Per ENI, by MAC: the IMDS answers its addresses were last parsed from and the metadata they gave; the inputs its
 * last plan was made from and that plan; and what the last snapshot verified. Invalidation is explicit: forget(mac)
 * when a configure job replaces the ENI's metadata or plan, when it is detached or its link changes; clear() on a
 * resync; kernelChanged() on every kernel notification, which ends every verification. Commands keep nothing: every
 * run reads IMDS and the kernel afresh.
 */
import type { EniMetadata } from '../model/metadata.js';
import type { Link } from '../model/state.js';
import type { KernelFacts } from '../planner/facts.js';
import type { Plan } from '../planner/plan.js';

/** What a snapshot showed of a settled ENI: while no notification has come since, the kernel still holds it. */
export interface Verified {
  readonly plan: Plan;
  readonly link: Link;
  /** What the plan was made from besides the metadata (the IPv6 router, the primary's route metrics). */
  readonly kernel: KernelFacts;
}

interface Entry {
  parsed?: { readonly answers: string; readonly meta: EniMetadata };
  planned?: { readonly meta: EniMetadata; readonly inputs: string; readonly plan: Plan };
  verified?: Verified & { readonly generation: number };
}

export class RoundCache {
  private readonly entries = new Map<string, Entry>();
  /** Counts kernel notifications: the kernel's state is unchanged while this is. */
  private generation = 0;

  private entry(mac: string): Entry {
    let e = this.entries.get(mac);
    if (!e) {
      e = {};
      this.entries.set(mac, e);
    }
    return e;
  }

  /** The metadata parsed last time from exactly these answers (see readAddressAnswers), if any. */
  metadata(mac: string, answers: string): EniMetadata | undefined {
    const parsed = this.entries.get(mac)?.parsed;
    return parsed?.answers === answers ? parsed.meta : undefined;
  }

  keepMetadata(mac: string, answers: string, meta: EniMetadata): EniMetadata {
    this.entry(mac).parsed = { answers, meta };
    return meta;
  }

  /** The plan made last time from this metadata object and these inputs (interface, flags, files, router), if any. */
  plan(mac: string, meta: EniMetadata, inputs: string): Plan | undefined {
    const planned = this.entries.get(mac)?.planned;
    return planned?.meta === meta && planned.inputs === inputs ? planned.plan : undefined;
  }

  keepPlan(mac: string, meta: EniMetadata, inputs: string, plan: Plan): Plan {
    this.entry(mac).planned = { meta, inputs, plan };
    return plan;
  }

  /** The current kernel generation, read before a snapshot is taken (a notification after it makes it stale). */
  kernelGeneration(): number {
    return this.generation;
  }

  /** A kernel notification: what any snapshot verified may have changed. */
  kernelChanged(): void {
    this.generation++;
  }

  /** What a snapshot verified of this ENI with `plan`, if no notification has come since. */
  verified(mac: string, plan: Plan | undefined): Verified | undefined {
    const v = this.entries.get(mac)?.verified;
    return v && v.generation === this.generation && v.plan === plan ? v : undefined;
  }

  keepVerified(mac: string, generation: number, verified: Verified): void {
    this.entry(mac).verified = { ...verified, generation };
  }

  /** Everything kept for this ENI goes: its next round reads, parses and plans afresh. */
  forget(mac: string): void {
    this.entries.delete(mac);
  }

  clear(): void {
    this.entries.clear();
  }
}
