/**
 * The .rpm through a real rpm transaction: no rpm-based system can be booted here (the registries this machine
 * reaches are npm's and Debian's), so the package is installed and erased with `rpm --root` into a scratch copy of
 * the Debian 12 tree (scripts/debian-rootfs.sh), whose /bin/sh, systemctl and systemd-tmpfiles run its scriptlets
 * chrooted, as rpm runs them in an image build (/proc mounted, no systemd running, so nothing may be started).
 * `--nodeps`: that tree's packages are dpkg's, and rpm's database knows none of them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { PRESET, START, type Arch } from '../../scripts/package/layout.js';
import { scratchRootfs } from '../vpc/container.js';
import { BUILD_TIMEOUT_MS, HOST_ARCH, isRoot, ok, packageFile, packages, run } from './support.js';

const WANTS = '/etc/systemd/system/multi-user.target.wants';
/** Debian's rpm says this on every install and erase (it would rather dpkg's tools were used); nothing else may be said. */
const DEBIAN_RPM_NOTICE = /^rpm: (RPM should not be used directly install RPM packages, use Alien instead!|However assuming you know what you are doing\.\.\.)\n/gm;
const said = (r: { stdout: string; stderr: string }) => `${r.stdout}${r.stderr}`.replace(DEBIAN_RPM_NOTICE, '');

describe('the .rpm installed and erased with rpm --root, its scriptlets run in that root', { skip: isRoot && HOST_ARCH ? false : 'needs root and a package for this architecture' }, () => {
  let root: string;
  let release: (() => Promise<void>) | undefined;
  let rpmFile: string;

  before(async () => {
    rpmFile = packageFile(await packages(), 'rpm', HOST_ARCH as Arch);
    ({ root, release } = await scratchRootfs());
    // As an image build mounts it (systemd-tmpfiles in the %post refuses to run without /proc); private to the
    // sandbox's mount namespace.
    ok('mount', ['-t', 'proc', 'ec2net-rpm-proc', `${root}/proc`]);
    ok('rpm', ['--root', root, '--initdb']);
  }, { timeout: BUILD_TIMEOUT_MS });

  after(async () => {
    if (root) run('umount', [`${root}/proc`]);
    await release?.();
  });

  test('install: the files, /run/ec2net from the tmpfiles.d entry, the units enabled by the preset, no warning', () => {
    const r = run('rpm', ['--root', root, '--install', '--nodeps', rpmFile]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(said(r), '');
    assert.ok(lstatSync(`${root}/usr/sbin/ec2netd`).isSymbolicLink());
    assert.ok(existsSync(`${root}${START}`));
    assert.match(readFileSync(`${root}${PRESET}`, 'utf8'), /^enable ec2netd\.service$/m);
    const run_ = statSync(`${root}/run/ec2net`);
    assert.ok(run_.isDirectory());
    assert.equal(run_.mode & 0o7777, 0o700);
    for (const unit of ['ec2netd.service', 'ec2ifscan.service']) assert.ok(lstatSync(`${root}${WANTS}/${unit}`).isSymbolicLink(), unit);
    // The dhclient unit is started by ec2net, never enabled.
    assert.ok(!existsSync(`${root}${WANTS}/ec2net-dhclient@.service`));
    assert.match(ok('rpm', ['--root', root, '-q', 'ec2net']), /^ec2net-0\.1\.0-1\./);
  });

  test('erase: the units disabled, every file and the runtime state gone, no warning', () => {
    const r = run('rpm', ['--root', root, '--erase', 'ec2net']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(said(r), '');
    for (const path of [`${WANTS}/ec2netd.service`, `${WANTS}/ec2ifscan.service`, START, '/usr/sbin/ec2netd', PRESET, '/run/ec2net', '/usr/libexec/ec2net']) {
      assert.ok(!existsSync(`${root}${path}`), path);
    }
  });
});
