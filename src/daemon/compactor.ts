/**
 * Gives the garbage of a burst of work back once the daemon is idle again.
 *
 * A refresh round allocates a few MB, and whatever of it lives across a scavenge (most of a round's answers and
 * plans) moves to V8's old generation, which only a full collection frees. V8 runs one when the old generation
 * reaches a limit set well above the live size, or when its memory reducer notices an idle heap after a full
 * collection; between rounds a minute apart neither happens, so each round's garbage stays resident (~3 MB over
 * a live heap of ~5.5 MB at 15 ENIs: 50-53 MB of RSS instead of ~47). So, once the queue has drained and stayed
 * drained for a moment, the daemon collects itself: a full collection, only when the heap grew by more than a
 * threshold since the last one, and its cost is reported beside the rounds'.
 *
 * Then a second one a few seconds later. The pages the first collection empties are swept on V8's worker thread
 * and go back to the system only when another collection starts; started at once it finds them not yet swept
 * (measured: the same 50 MB), started once they are it returns them (~1 MB less after a round that dumped the
 * kernel), and otherwise they would stay until the next round's collections, a minute later.
 */
import type { Scheduler } from './queue.js';

export interface CompactorOptions {
  /** A full collection (V8's gc(), present with --expose-gc); without it the compactor does nothing. */
  readonly gc: (() => void) | undefined;
  readonly heapUsed: () => number;
  readonly cpuMicros: () => number;
  readonly scheduler: Scheduler;
  readonly now: () => number;
  /** Whether the daemon has no work queued or running. */
  readonly quiet: () => boolean;
  /** How long the daemon must stay idle first: work that comes in bursts is collected once, after the burst. */
  readonly delayMs: number;
  /** How long after a collection the second one comes (see above). */
  readonly settleMs: number;
  /** Growth of the heap since the last collection below which a collection is not worth its CPU. */
  readonly thresholdBytes: number;
}

export interface CompactionFigures {
  readonly enabled: boolean;
  readonly count: number;
  readonly last?: { at: number; cpuMicros: number; beforeBytes: number; afterBytes: number };
}

export class Compactor {
  private cancel: (() => void) | undefined;
  /** Heap used right after the last full collection of ours: what is live. */
  private baseline: number | undefined;
  private count = 0;
  private last: CompactionFigures['last'];

  constructor(private readonly opts: CompactorOptions) {}

  /**
   * The daemon's queue has drained; called again, it restarts the wait. If work has come in by the time the wait
   * is over, nothing is collected: that work's own drain calls this again.
   */
  idle(): void {
    if (!this.opts.gc) return;
    this.stop();
    this.cancel = this.opts.scheduler.after(this.opts.delayMs, () => {
      this.cancel = undefined;
      if (this.opts.quiet()) this.collect();
    });
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }

  figures(): CompactionFigures {
    return { enabled: this.opts.gc !== undefined, count: this.count, ...(this.last ? { last: this.last } : {}) };
  }

  private collect(): void {
    const gc = this.opts.gc;
    if (!gc) return;
    const before = this.opts.heapUsed();
    if (this.baseline !== undefined && before - this.baseline < this.opts.thresholdBytes) return;
    const cpu0 = this.opts.cpuMicros();
    gc();
    const after = this.opts.heapUsed();
    this.baseline = after;
    this.count++;
    const last = { at: this.opts.now(), cpuMicros: this.opts.cpuMicros() - cpu0, beforeBytes: before, afterBytes: after };
    this.last = last;
    this.cancel = this.opts.scheduler.after(this.opts.settleMs, () => {
      this.cancel = undefined;
      // Work since is garbage for the next compaction (its drain cancels this); collecting now would only cost its
      // CPU twice.
      if (!this.opts.quiet()) return;
      const cpu1 = this.opts.cpuMicros();
      gc();
      this.baseline = this.opts.heapUsed();
      this.last = { ...last, cpuMicros: last.cpuMicros + this.opts.cpuMicros() - cpu1, afterBytes: this.baseline };
    });
  }
}
