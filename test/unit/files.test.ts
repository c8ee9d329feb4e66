import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, statSync, mkdirSync, chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readText, removeFile, writeAtomic } from '../../src/ports/files.js';
import { Ec2netError } from '../../src/errors.js';

const dir = () => mkdtempSync(join(tmpdir(), 'ec2net-files-'));

test('writes atomically, creates directories, applies the mode, and leaves no temporary file', async () => {
  const d = dir();
  const path = `${d}/etc/dhcp/dhclient-eth1.conf`;
  assert.equal(await writeAtomic({ path, content: 'timeout 300;\n', mode: 0o644 }), true);
  assert.equal(readFileSync(path, 'utf8'), 'timeout 300;\n');
  assert.equal(statSync(path).mode & 0o777, 0o644);
  assert.deepEqual(readdirSync(`${d}/etc/dhcp`), ['dhclient-eth1.conf']);
});

test('a write that changes nothing is skipped; a change of content or mode is not', async () => {
  const d = dir();
  const path = `${d}/f`;
  await writeAtomic({ path, content: 'a\n', mode: 0o644 });
  const inode = statSync(path).ino;
  assert.equal(await writeAtomic({ path, content: 'a\n', mode: 0o644 }), false);
  assert.equal(statSync(path).ino, inode);
  assert.equal(await writeAtomic({ path, content: 'a\n', mode: 0o600 }), true);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(await writeAtomic({ path, content: 'b\n', mode: 0o600 }), true);
  assert.equal(readFileSync(path, 'utf8'), 'b\n');
});

test('a write that fails at the rename leaves the target as it was and no temporary behind', async () => {
  const d = dir();
  const path = `${d}/sub/f`;
  mkdirSync(`${path}/inside`, { recursive: true }); // a non-empty directory where the file should go: rename fails
  await assert.rejects(writeAtomic({ path, content: 'new\n', mode: 0o644 }), (e: unknown) => e instanceof Ec2netError && e.kind === 'PluginFailure');
  assert.ok(statSync(`${path}/inside`).isDirectory());
  assert.deepEqual(readdirSync(`${d}/sub`), ['f']);
});

test('readText: absent is undefined, unreadable is an error', async () => {
  const d = dir();
  assert.equal(await readText(`${d}/nope`), undefined);
  mkdirSync(`${d}/adir`);
  await assert.rejects(readText(`${d}/adir`), (e: unknown) => e instanceof Ec2netError && e.kind === 'InvalidArgument');
  chmodSync(d, 0o700);
  assert.equal(await removeFile(`${d}/nope`), false);
});

test('a temporary left by a writer that died is removed by the next write of that file', async () => {
  const d = dir();
  const path = `${d}/f`;
  await writeAtomic({ path, content: 'a\n', mode: 0o644 });
  // pid 2^22 + 1 is above the kernel's pid_max ceiling: no process can have it.
  writeFileSync(`${d}/.f.ec2net-4194305-1.tmp`, 'partial');
  writeFileSync(`${d}/.f.ec2net-${process.pid}-999.tmp`, 'ours, in flight');
  await writeAtomic({ path, content: 'a\n', mode: 0o644 });
  assert.deepEqual(readdirSync(d).sort(), [`.f.ec2net-${process.pid}-999.tmp`, 'f']);
});
