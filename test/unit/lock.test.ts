import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { acquireLock } from '../../src/ports/lock.js';
import { Ec2netError } from '../../src/errors.js';
import { systemClock } from '../../src/ports/http.js';

const unique = (tag: string) => `test-${process.pid}-${tag}-${Math.random().toString(36).slice(2)}`;
const acquire = (name: string, waitMs = 5_000) => acquireLock(name, systemClock.sleep, systemClock.now, waitMs);

test('a second holder of the same interface waits, and gives up as Busy at its bound', async () => {
  const name = unique('same');
  const first = await acquire(name);
  await assert.rejects(acquire(name, 200), (e: unknown) => e instanceof Ec2netError && e.kind === 'Busy');
  const order: string[] = [];
  const waiter = acquire(name).then((l) => {
    order.push('second acquired');
    return l;
  });
  await new Promise((r) => setTimeout(r, 100));
  order.push('first released');
  await first.release();
  await (await waiter).release();
  assert.deepEqual(order, ['first released', 'second acquired']);
});

test('different interfaces do not block each other', async () => {
  const a = await acquire(unique('a'));
  const b = await acquire(unique('b'), 50);
  await Promise.all([a.release(), b.release()]);
});

test('a holder killed with SIGKILL leaves no stale lock', async () => {
  const name = unique('crash');
  const lockModule = fileURLToPath(new URL('../../src/ports/lock.js', import.meta.url));
  const child = spawn(process.execPath, [
    '--input-type=module',
    '-e',
    `const { acquireLock } = await import(${JSON.stringify(lockModule)});
     await acquireLock(${JSON.stringify(name)}, (ms) => new Promise((r) => setTimeout(r, ms)), Date.now, 1000);
     console.log('held'); setInterval(() => {}, 1000);`,
  ]);
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(chunk.toString().trim(), 'held');
  await assert.rejects(acquire(name, 100), (e: unknown) => e instanceof Ec2netError && e.kind === 'Busy');
  child.kill('SIGKILL');
  await once(child, 'exit');
  const lock = await acquire(name, 1000);
  await lock.release();
});
