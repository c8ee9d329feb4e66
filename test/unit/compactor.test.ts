import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Compactor } from '../../src/daemon/compactor.js';
import { ManualScheduler } from '../fakes/scheduler.js';

const MB = 2 ** 20;

/** A heap the test grows by hand; each gc() drops it to `live` and costs 9 ms of CPU. */
function harness(opts: { gc?: boolean; quiet?: () => boolean } = {}) {
  const scheduler = new ManualScheduler();
  const heap = { used: 20 * MB, live: 5 * MB, cpu: 0, gcCalls: 0 };
  const compactor = new Compactor({
    gc:
      opts.gc === false
        ? undefined
        : () => {
            heap.gcCalls++;
            heap.used = heap.live;
            heap.cpu += 9_000;
          },
    heapUsed: () => heap.used,
    cpuMicros: () => heap.cpu,
    scheduler,
    now: () => scheduler.now,
    quiet: opts.quiet ?? (() => true),
    delayMs: 2_000,
    settleMs: 5_000,
    thresholdBytes: MB,
  });
  return { scheduler, heap, compactor, count: () => compactor.figures().count };
}

test('collects once the daemon has stayed idle for the delay, again once settled, and reports both', async () => {
  const h = harness();
  h.compactor.idle();
  await h.scheduler.advance(1_999);
  assert.equal(h.heap.gcCalls, 0);
  await h.scheduler.advance(1);
  assert.equal(h.heap.gcCalls, 1);
  assert.deepEqual(h.compactor.figures(), { enabled: true, count: 1, last: { at: 2_000, cpuMicros: 9_000, beforeBytes: 20 * MB, afterBytes: 5 * MB } });
  await h.scheduler.advance(4_999);
  assert.equal(h.heap.gcCalls, 1);
  await h.scheduler.advance(1);
  assert.equal(h.heap.gcCalls, 2, 'the second collection, for the pages the first emptied');
  assert.deepEqual(h.compactor.figures(), { enabled: true, count: 1, last: { at: 2_000, cpuMicros: 18_000, beforeBytes: 20 * MB, afterBytes: 5 * MB } });
  assert.equal(h.scheduler.pendingTimers(), 0);
});

test('a burst of work is collected once, after its last drain', async () => {
  const h = harness();
  for (let i = 0; i < 5; i++) {
    h.compactor.idle();
    await h.scheduler.advance(1_000);
  }
  assert.equal(h.heap.gcCalls, 0);
  await h.scheduler.advance(1_000);
  assert.equal(h.count(), 1);
  await h.scheduler.advance(60_000);
  assert.equal(h.heap.gcCalls, 2);
  assert.equal(h.scheduler.pendingTimers(), 0);
});

test('skips a collection when work has come in meanwhile (its own drain schedules the next)', async () => {
  let quiet = false;
  const h = harness({ quiet: () => quiet });
  h.compactor.idle();
  await h.scheduler.advance(5_000);
  assert.equal(h.heap.gcCalls, 0);
  quiet = true;
  h.compactor.idle();
  await h.scheduler.advance(2_000);
  assert.equal(h.heap.gcCalls, 1);
  // Work arrives before the second collection: that one is dropped, not run in the middle of it.
  quiet = false;
  await h.scheduler.advance(5_000);
  assert.equal(h.heap.gcCalls, 1);
});

test('the drain of new work cancels a pending second collection', async () => {
  const h = harness();
  h.compactor.idle();
  await h.scheduler.advance(2_000);
  assert.equal(h.heap.gcCalls, 1);
  h.heap.used = h.heap.live + 0.5 * MB;
  h.compactor.idle();
  await h.scheduler.advance(60_000);
  assert.equal(h.heap.gcCalls, 1, 'under the threshold: neither collection runs');
});

test('after the first collection, collects only when the heap grew by more than the threshold', async () => {
  const h = harness();
  h.compactor.idle();
  await h.scheduler.advance(10_000);
  assert.equal(h.count(), 1);
  h.heap.used = h.heap.live + 0.9 * MB;
  h.compactor.idle();
  await h.scheduler.advance(10_000);
  assert.equal(h.count(), 1, 'under the threshold: not worth the CPU');
  h.heap.used = h.heap.live + 1.5 * MB;
  h.compactor.idle();
  await h.scheduler.advance(10_000);
  assert.equal(h.count(), 2);
  assert.equal(h.compactor.figures().last?.beforeBytes, 6.5 * MB);
});

test('without gc (node run without --expose-gc) it schedules nothing and says it is off', async () => {
  const h = harness({ gc: false });
  h.compactor.idle();
  assert.equal(h.scheduler.pendingTimers(), 0);
  assert.deepEqual(h.compactor.figures(), { enabled: false, count: 0 });
});

test('stop cancels a pending collection', async () => {
  const h = harness();
  h.compactor.idle();
  h.compactor.stop();
  await h.scheduler.advance(10_000);
  assert.equal(h.heap.gcCalls, 0);
  assert.equal(h.scheduler.pendingTimers(), 0);
});
