/**
 * One debounced queue per key (an ENI's MAC), run in parallel across keys up to a cap. A key never runs two
 * jobs at once; jobs pushed while one runs collapse into one follow-up of the strongest kind.
 */

export type JobKind = 'repair' | 'configure' | 'detach';

const STRENGTH: Record<JobKind, number> = { repair: 0, configure: 1, detach: 2 };

export interface Scheduler {
  /** Runs fn after ms; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

interface Slot {
  pending?: JobKind;
  cancelTimer?: () => void;
  ready: boolean;
  running: boolean;
}

export interface QueueOptions {
  readonly concurrency: number;
  readonly debounceMs: number;
  readonly scheduler: Scheduler;
  readonly run: (key: string, job: JobKind) => Promise<void>;
  /** Called each time the last job running finishes with nothing pending. */
  readonly drained?: () => void;
}

export class KeyedQueue {
  private readonly slots = new Map<string, Slot>();
  private readonly waiting: string[] = [];
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly opts: QueueOptions) {}

  push(key: string, job: JobKind, delayMs = this.opts.debounceMs): void {
    if (this.stopped) return;
    const slot = this.slots.get(key) ?? { ready: false, running: false };
    this.slots.set(key, slot);
    if (slot.pending === undefined || STRENGTH[job] > STRENGTH[slot.pending]) slot.pending = job;
    if (slot.running || slot.ready) return;
    slot.cancelTimer?.();
    slot.cancelTimer = this.opts.scheduler.after(delayMs, () => {
      slot.cancelTimer = undefined;
      slot.ready = true;
      this.waiting.push(key);
      this.pump();
    });
  }

  /** Keys with a job waiting or running. */
  busy(): string[] {
    return [...this.slots.entries()].filter(([, s]) => s.pending !== undefined || s.running).map(([k]) => k);
  }

  /** Resolves once nothing is pending or running. */
  idle(): Promise<void> {
    if (this.busy().length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops every pending job; running ones finish. */
  stop(): void {
    this.stopped = true;
    for (const slot of this.slots.values()) {
      slot.cancelTimer?.();
      if (!slot.running) slot.pending = undefined;
    }
    this.waiting.length = 0;
    this.checkIdle();
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.waiting.length > 0) {
      const key = this.waiting.shift() as string;
      const slot = this.slots.get(key);
      if (!slot?.pending) continue;
      const job = slot.pending;
      slot.pending = undefined;
      slot.ready = false;
      slot.running = true;
      this.active++;
      void this.opts
        .run(key, job)
        .catch(() => undefined)
        .finally(() => {
          slot.running = false;
          this.active--;
          if (slot.pending !== undefined && !this.stopped) {
            const next = slot.pending;
            slot.pending = undefined;
            this.push(key, next);
          } else if (slot.pending === undefined && !slot.cancelTimer) {
            this.slots.delete(key);
          }
          this.pump();
          if (this.checkIdle()) this.opts.drained?.();
        });
    }
  }

  private checkIdle(): boolean {
    if (this.busy().length > 0) return false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
    return true;
  }
}
