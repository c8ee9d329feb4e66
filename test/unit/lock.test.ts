import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock, lockPath } from '../../src/ports/lock.js';
import { Ec2netError } from '../../src/errors.js';
import { systemClock } from '../../src/ports/http.js';

const base = mkdtempSync(join(tmpdir(), 'ec2net-lock-'));
after(() => rmSync(base, { recursive: true, force: true }));

let runs = 0;
/** A fresh run directory per test: tests never see each other's locks. */
const runDir = () => `${base}/${++runs}`;
const acquire = (path: string, waitMs = 5_000) => acquireLock(path, systemClock.sleep, systemClock.now, waitMs);
const isKind = (kind: string) => (e: unknown) => e instanceof Ec2netError && e.kind === kind;

const lockModule = fileURLToPath(new URL('../../src/ports/lock.js', import.meta.url));

const spawned: ChildProcessWithoutNullStreams[] = [];
after(() => spawned.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')));

/** A node process running `body` with acquireLock and sleep in scope and its arguments in `args`. */
function node(body: string, args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [
    '--input-type=module',
    '-e',
    `const { acquireLock } = await import(${JSON.stringify(lockModule)});
     const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
     const args = process.argv.slice(1);
     ${body}`,
    ...args,
  ]);
  spawned.push(child);
  return child;
}

async function firstLine(child: ChildProcessWithoutNullStreams): Promise<string> {
  let text = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  for await (const chunk of child.stdout) {
    text += (chunk as Buffer).toString();
    if (text.includes('\n')) return text.split('\n')[0] as string;
  }
  throw new Error(`child ended without a line: ${stderr}`);
}

/** A child that takes the lock and keeps running; resolves once it holds it. */
async function holder(path: string): Promise<ChildProcessWithoutNullStreams> {
  const child = node(`await acquireLock(args[0], sleep, Date.now, 5000); console.log('held'); setInterval(() => {}, 1000);`, [path]);
  assert.equal(await firstLine(child), 'held');
  return child;
}

test('two names are independent: holding eth1 does not block persistent-names or eth2', async () => {
  const dir = runDir();
  const eth1 = await acquire(lockPath({ runDir: dir }, 'eth1'));
  const t0 = Date.now();
  // waitMs 0: a name that collided with eth1 would fail as Busy at once instead of waiting.
  const names = await acquire(lockPath({ runDir: dir }, 'persistent-names'), 0);
  const eth2 = await acquire(lockPath({ runDir: dir }, 'eth2'), 0);
  assert.ok(Date.now() - t0 < 1_000, `took ${Date.now() - t0} ms`);
  await Promise.all([eth1.release(), names.release(), eth2.release()]);
});

test('the lock is a socket under runDir/lock, in a 0700 directory, gone after release', async () => {
  const dir = runDir();
  const path = lockPath({ runDir: dir }, 'eth1');
  assert.equal(path, `${dir}/lock/eth1`);
  const lock = await acquire(path);
  assert.ok(lstatSync(path).isSocket());
  assert.equal(lstatSync(`${dir}/lock`).mode & 0o777, 0o700);
  await lock.release();
  await lock.release(); // twice is harmless
  assert.equal(existsSync(path), false);
  const again = await acquire(path, 0);
  await again.release();
});

test('the same name excludes a second holder until the first releases', async () => {
  const path = lockPath({ runDir: runDir() }, 'eth1');
  const first = await acquire(path);
  const order: string[] = [];
  const waiter = acquire(path).then((l) => {
    order.push('second acquired');
    return l;
  });
  await new Promise((r) => setTimeout(r, 300));
  order.push('first released');
  await first.release();
  await (await waiter).release();
  assert.deepEqual(order, ['first released', 'second acquired']);
});

test('a lock held by another process excludes this one', async () => {
  const path = lockPath({ runDir: runDir() }, 'eth1');
  const child = await holder(path);
  try {
    await assert.rejects(acquire(path, 100), isKind('Busy'));
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
});

test('a waiter gives up as Busy at its bound, naming the lock', async () => {
  const path = lockPath({ runDir: runDir() }, 'eth1');
  const first = await acquire(path);
  const t0 = Date.now();
  await assert.rejects(acquire(path, 300), (e: unknown) => {
    assert.ok(e instanceof Ec2netError && e.kind === 'Busy');
    assert.deepEqual(e.fields, { lock: path, waitedMs: 300 });
    return true;
  });
  const waited = Date.now() - t0;
  assert.ok(waited >= 300 && waited < 2_000, `waited ${waited} ms`);
  await first.release();
});

test('a holder killed with SIGKILL leaves a stale file, and the next acquire takes the lock at once', async () => {
  const path = lockPath({ runDir: runDir() }, 'eth1');
  const child = await holder(path);
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.ok(lstatSync(path).isSocket(), 'the dead holder left its socket file');
  const t0 = Date.now();
  const lock = await acquire(path, 0); // waitMs 0: a stale lock taken for a live one fails as Busy
  assert.ok(Date.now() - t0 < 1_000, `took ${Date.now() - t0} ms`);
  await assert.rejects(acquire(path, 50), isKind('Busy'), 'the recovered lock is held');
  await lock.release();
});

test('a held lock does not keep its process alive', async () => {
  const path = lockPath({ runDir: runDir() }, 'eth1');
  const child = node(`await acquireLock(args[0], sleep, Date.now, 5000); console.log('held');`, [path]);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  assert.deepEqual({ code, signal }, { code: 0, signal: null });
  // It exited holding the lock without releasing it: stale, and recovered at once.
  assert.ok(lstatSync(path).isSocket());
  const lock = await acquire(path, 0);
  await lock.release();
});

test('concurrent processes never overlap, while recovering stale locks left by holders that exit holding', async () => {
  const path = lockPath({ runDir: runDir() }, 'persistent-names');
  const counter = `${base}/counter-${process.pid}`;
  writeFileSync(counter, '0');
  const processes = 6;
  const rounds = 4;
  // Each child increments the counter `rounds` times under the lock with a read-sleep-write; after its last
  // increment it exits still holding the lock, leaving a stale file for the others to recover while they contend.
  const body = `
    const { readFileSync, writeFileSync } = await import('node:fs');
    const [path, counter, rounds] = args;
    console.log('ready');
    await new Promise((r) => process.stdin.once('data', r));
    for (let i = 0; i < Number(rounds); i++) {
      const lock = await acquireLock(path, sleep, Date.now, 30000);
      const n = Number(readFileSync(counter, 'utf8'));
      await sleep(5 + Math.floor(Math.random() * 10));
      writeFileSync(counter, String(n + 1));
      if (i === Number(rounds) - 1) process.exit(0);
      await lock.release();
    }`;
  // A stale lock is there before anyone starts: all six meet it at once.
  const dead = await holder(path);
  dead.kill('SIGKILL');
  await once(dead, 'exit');
  assert.ok(lstatSync(path).isSocket());

  const children = Array.from({ length: processes }, () => node(body, [path, counter, String(rounds)]));
  const exits = children.map((c) => once(c, 'exit') as Promise<[number | null, string | null]>);
  const stderr = children.map((c) => {
    const out = { text: '' };
    c.stderr.on('data', (d: Buffer) => (out.text += d.toString()));
    return out;
  });
  assert.deepEqual(await Promise.all(children.map(firstLine)), Array(processes).fill('ready'));
  for (const c of children) c.stdin.write('go\n');
  const results = await Promise.all(exits);
  assert.deepEqual(
    results.map(([code], i) => ({ code, stderr: stderr[i]?.text ?? '' })),
    Array(processes).fill({ code: 0, stderr: '' }),
  );
  assert.equal(Number(readFileSync(counter, 'utf8')), processes * rounds);
  const lock = await acquire(path, 0); // the last one's stale file too
  await lock.release();
});

test('contenders in one process hammering one name are never two inside', async () => {
  const path = lockPath({ runDir: runDir() }, 'eth1');
  let inside = 0;
  let entries = 0;
  const contender = async () => {
    for (let i = 0; i < 100; i++) {
      const lock = await acquire(path, 20_000);
      inside++;
      entries++;
      assert.equal(inside, 1);
      await new Promise((r) => setImmediate(r));
      inside--;
      await lock.release();
    }
  };
  await Promise.all([contender(), contender(), contender()]);
  assert.equal(entries, 300);
});

test('a holder that releases while a probe sits in its backlog counts as released, not as an error', async () => {
  const path = lockPath({ runDir: runDir() }, 'eth1');
  mkdirSync(dirname(path), { recursive: true });
  // A stand-in holder at the lock path that closes the moment a probe's connect(2) has gone out, before it could
  // accept it: the probe's connect then completes with ECONNRESET. (Seen for real between concurrent ifups.)
  const standIn = createServer().unref();
  await new Promise<void>((resolve) => standIn.listen({ path }, resolve));
  const connect = Socket.prototype.connect;
  let closedMidProbe = false;
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    const result = (connect as (...a: unknown[]) => Socket).apply(this, args);
    const options = (Array.isArray(args[0]) ? args[0][0] : args[0]) as { path?: string } | undefined;
    if (!closedMidProbe && options?.path === path) {
      closedMidProbe = true;
      standIn.close();
    }
    return result;
  } as typeof connect;
  try {
    const lock = await acquire(path, 0); // waitMs 0: taken for a live holder, it would fail as Busy
    await lock.release();
  } finally {
    Socket.prototype.connect = connect;
    standIn.close();
  }
  assert.ok(closedMidProbe);
});

test('a lock path longer than a unix socket address allows is refused, naming the path; 107 bytes is fine', async () => {
  const dir = `${base}/long`;
  const name = 'persistent-names';
  const pad = (bytes: number) => `${dir}/${'x'.repeat(bytes - dir.length - 1 - name.length - 1)}`;
  const fits = `${pad(107)}/${name}`;
  const tooLong = `${pad(108)}/${name}`;
  assert.equal(Buffer.byteLength(fits), 107);
  assert.equal(Buffer.byteLength(tooLong), 108);
  mkdirSync(dir, { recursive: true });
  const lock = await acquire(fits, 0);
  assert.ok(lstatSync(fits).isSocket());
  await lock.release();
  await assert.rejects(acquire(tooLong, 0), (e: unknown) => {
    assert.ok(e instanceof Ec2netError && e.kind === 'InvalidArgument');
    assert.ok(e.message.includes(tooLong), e.message);
    return true;
  });
  assert.equal(existsSync(tooLong), false);
});

test('a lock name cannot leave the lock directory', () => {
  for (const name of ['', '.', '..', 'a/b']) assert.throws(() => lockPath({ runDir: base }, name), isKind('InvalidArgument'));
});
