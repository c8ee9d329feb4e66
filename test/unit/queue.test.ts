import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedQueue, type JobKind } from '../../src/daemon/queue.js';
import { ManualScheduler, settle } from '../fakes/scheduler.js';

function harness(concurrency = 2) {
  const scheduler = new ManualScheduler();
  const runs: string[] = [];
  let drains = 0;
  let active = 0;
  let maxActive = 0;
  const gates = new Map<string, () => void>();
  const queue = new KeyedQueue({
    concurrency,
    debounceMs: 100,
    scheduler,
    run: async (key: string, job: JobKind) => {
      runs.push(`${key}:${job}`);
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => gates.set(key, resolve));
      active--;
    },
    drained: () => drains++,
  });
  const finish = async (key: string) => {
    gates.get(key)?.();
    gates.delete(key);
    await settle();
  };
  return { scheduler, queue, runs, finish, maxActive: () => maxActive, drains: () => drains };
}

test('pushes within the debounce collapse into one run of the strongest kind', async () => {
  const h = harness();
  h.queue.push('a', 'repair');
  h.queue.push('a', 'configure');
  h.queue.push('a', 'repair');
  await h.scheduler.advance(50);
  assert.deepEqual(h.runs, []);
  await h.scheduler.advance(100);
  assert.deepEqual(h.runs, ['a:configure']);
  await h.finish('a');
  await h.queue.idle();
});

test('a push while the key runs becomes one follow-up, never a concurrent run', async () => {
  const h = harness();
  h.queue.push('a', 'configure');
  await h.scheduler.advance(100);
  h.queue.push('a', 'repair');
  h.queue.push('a', 'detach');
  await h.scheduler.advance(500);
  assert.deepEqual(h.runs, ['a:configure']);
  await h.finish('a');
  await h.scheduler.advance(100);
  assert.deepEqual(h.runs, ['a:configure', 'a:detach']);
  await h.finish('a');
  await h.queue.idle();
  assert.deepEqual(h.queue.busy(), []);
});

test('different keys run in parallel up to the cap', async () => {
  const h = harness(2);
  for (const k of ['a', 'b', 'c']) h.queue.push(k, 'configure');
  await h.scheduler.advance(100);
  assert.deepEqual(h.runs.sort(), ['a:configure', 'b:configure']);
  await h.finish('a');
  assert.deepEqual(h.runs.sort(), ['a:configure', 'b:configure', 'c:configure']);
  await h.finish('b');
  await h.finish('c');
  await h.queue.idle();
  assert.equal(h.maxActive(), 2);
});

test('stop drops pending work and idle resolves', async () => {
  const h = harness();
  h.queue.push('a', 'configure');
  h.queue.stop();
  await h.scheduler.advance(1000);
  assert.deepEqual(h.runs, []);
  await h.queue.idle();
});

test('drained is called once each time the last running job finishes with nothing pending', async () => {
  const h = harness(2);
  h.queue.push('a', 'configure');
  h.queue.push('b', 'configure');
  await h.scheduler.advance(100);
  await h.finish('a');
  assert.equal(h.drains(), 0, 'b still runs');
  h.queue.push('a', 'repair');
  await h.finish('b');
  assert.equal(h.drains(), 0, 'a is pending');
  await h.scheduler.advance(100);
  await h.finish('a');
  assert.equal(h.drains(), 1);
  h.queue.push('c', 'configure');
  await h.scheduler.advance(100);
  await h.finish('c');
  assert.equal(h.drains(), 2);
});
