/**
 * Waiting for udev to finish with a device that appeared (src/ports/udev.ts), over a directory tree shaped like
 * /sys and /run: name_assign_type as the kernel reports it (Documentation/ABI/testing/sysfs-class-net:
 * 1 enumerated, 3 user, 4 renamed), /run/udev/control while udevd runs, /run/udev/data/n<ifindex> once udev has
 * recorded the device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UDEV_WAIT_MS, awaitUdev, udevPending } from '../../src/ports/udev.js';

function tree(opts: { udevd: boolean; devices: Record<string, string>; recorded?: number[] }) {
  const base = mkdtempSync(join(tmpdir(), 'ec2net-udev-'));
  const dirs = { sys: `${base}/sys`, run: `${base}/run` };
  mkdirSync(`${dirs.run}/udev/data`, { recursive: true });
  if (opts.udevd) writeFileSync(`${dirs.run}/udev/control`, '');
  for (const [name, type] of Object.entries(opts.devices)) {
    mkdirSync(`${dirs.sys}/class/net/${name}`, { recursive: true });
    writeFileSync(`${dirs.sys}/class/net/${name}/name_assign_type`, `${type}\n`);
  }
  for (const index of opts.recorded ?? []) writeFileSync(`${dirs.run}/udev/data/n${index}`, 'I:1\n');
  return dirs;
}

test('an enumerated device udev has not recorded is pending; recorded, renamed, user-named or without udevd it is not', () => {
  const dirs = tree({ udevd: true, devices: { eth1: '1', ens7: '4', veth0: '3', eth2: '1' }, recorded: [5] });
  assert.equal(udevPending(4, 'eth1', dirs), true);
  assert.equal(udevPending(5, 'eth2', dirs), false, 'recorded');
  assert.equal(udevPending(6, 'ens7', dirs), false, 'renamed by udev');
  assert.equal(udevPending(7, 'veth0', dirs), false, 'named by its creator');
  assert.equal(udevPending(8, 'eth9', dirs), false, 'gone (renamed away) before the look');
  assert.equal(udevPending(4, 'eth1', tree({ udevd: false, devices: { eth1: '1' } })), false, 'no udevd');
});

test('the wait ends when udev records the device, and at the bound when it never does', async () => {
  const dirs = tree({ udevd: true, devices: { eth1: '1', eth3: '1' } });
  let slept = 0;
  const sleep = async (ms: number) => {
    slept += ms;
    if (slept === 50) writeFileSync(`${dirs.run}/udev/data/n4`, 'I:1\n');
  };
  assert.equal(await awaitUdev(4, 'eth1', sleep, dirs), 'recorded');
  assert.equal(slept, 50);
  slept = 0;
  assert.equal(await awaitUdev(4, 'eth1', sleep, dirs), 'ready', 'recorded already: nothing to wait for');
  assert.equal(slept, 0);
  slept = 0;
  assert.equal(await awaitUdev(9, 'eth3', async (ms) => void (slept += ms), dirs), 'timeout');
  assert.equal(slept, UDEV_WAIT_MS);
});
