/**
 * Running programs to their end (src/ports/child.ts): exit status, output, the bound, a program that cannot be
 * started, and one that leaves a background process holding its output pipes (as a daemonizing client can).
 * The programs are the shell's and coreutils'; none touches networking.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChild } from '../../src/ports/child.js';

test('exit status and stdout and stderr together', async () => {
  assert.deepEqual(await runChild(['true'], 5_000), { exitCode: 0, timedOut: false, output: '' });
  const r = await runChild(['sh', '-c', 'echo out; echo err >&2; exit 3'], 5_000);
  assert.equal(r.exitCode, 3);
  assert.equal(r.timedOut, false);
  assert.match(r.output, /out\n/);
  assert.match(r.output, /err\n/);
});

test('the bound ends a program that runs too long: SIGTERM, and timedOut', async () => {
  const started = Date.now();
  const r = await runChild(['sleep', '30'], 100);
  assert.equal(r.timedOut, true);
  assert.equal(r.signal, 'SIGTERM');
  assert.equal(r.exitCode, undefined);
  assert.ok(Date.now() - started < 5_000);
});

test('a program that does not exist is a start error, not an exit status', async () => {
  const r = await runChild(['/nonexistent/ec2net-no-such-program'], 5_000);
  assert.equal(r.startError, 'ENOENT');
  assert.equal(r.exitCode, undefined);
});

test('a background process left holding the output pipes is not waited for once the program has exited', async () => {
  const started = Date.now();
  const r = await runChild(['sh', '-c', 'echo started; sleep 3 & exit 0'], 10_000);
  assert.equal(r.exitCode, 0);
  assert.match(r.output, /started/);
  assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
});

test('output beyond the cap keeps its end', async () => {
  const r = await runChild(['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done'], 10_000);
  assert.equal(r.exitCode, 0);
  assert.ok(r.output.length <= 16 * 1024);
  assert.match(r.output, /line 2999\n$/);
});
