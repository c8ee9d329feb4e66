/**
 * The maintainer scripts of both packages, run as dpkg and rpm run them, each in a mount namespace of its own
 * where /run and /etc are empty tmpfs (seeded with a fixture) and systemctl, deb-systemd-helper,
 * deb-systemd-invoke and systemd-tmpfiles are stubs that record their arguments. What is checked is the outcome:
 * which units end up enabled, which are started or stopped, and which files are left.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import type { BuiltPackage } from '../../scripts/package.js';
import { ARCHES } from '../../scripts/package/layout.js';
import { BUILD_TIMEOUT_MS, isRoot, ok, packageFile, packages, run, scratch } from './support.js';

const STUBS = ['systemctl', 'deb-systemd-helper', 'deb-systemd-invoke', 'systemd-tmpfiles'];
const RM = ['/usr/bin/rm', '/bin/rm'].find((p) => existsSync(p)) ?? 'rm';
const GREP = ['/usr/bin/grep', '/bin/grep'].find((p) => existsSync(p)) ?? 'grep';
const ENABLED_ON_INSTALL = ['ec2ifscan.service', 'ec2net-hostname.service', 'ec2netd.service'];

/** Generated state that purge removes, and files of others (and of ec2-net-utils' format) that it must leave. */
/** networkd units and drop-ins ec2net wrote: they open with its mark. */
const MARKED = ['/run/systemd/network/70-ec2net-eth1.network', '/run/systemd/network/10-netplan-eth2.network.d/70-ec2net.conf'];
const OURS = ['/run/ec2net/state/0a1b2c3d4e5f.json', '/run/ec2net/dhclient-eth1.pid', '/etc/udev/rules.d/70-ec2net-persistent-net.rules', ...MARKED];
const THEIRS = [
  '/run/other/state',
  '/etc/udev/rules.d/70-persistent-net.rules',
  '/etc/sysconfig/network-scripts/ifcfg-eth1',
  '/etc/sysconfig/network-scripts/route-eth1',
  '/etc/dhcp/dhclient-eth1.conf',
  '/run/systemd/network/10-netplan-eth2.network',
  // Named like ec2net's, written by someone else: no mark, so it stays.
  '/run/systemd/network/70-ec2net-eth9.network',
];

interface Outcome {
  readonly status: number | null;
  readonly calls: string[][];
  /** Files under /run and /etc afterwards. */
  readonly files: string[];
}

// Everything the script can touch is on tmpfs mounted in this namespace only. Its PATH holds the stubs, rm and grep,
// nothing else: any other command it tried would fail the test instead of running for real.
const DRIVER = `
set -u
mount -t tmpfs ec2net-test /run
mount -t tmpfs ec2net-test /etc
if [ "$SYSTEMD_RUNNING" = yes ]; then mkdir -p /run/systemd/system; fi
for f in $FIXTURE; do mkdir -p "$(dirname "$f")"; echo fixture > "$f"; done
for f in $MARKED; do echo '# Written by ec2net for eni-0a1b2c3d4e5f60001 (0a:1b:2c:3d:4e:5f) and rewritten on every run' > "$f"; done
PATH="$STUB_DIR" /bin/sh "$SCRIPT" "$@" > "$WORK/out" 2>&1
echo $? > "$WORK/status"
find /run /etc -type f ! -path '/run/systemd/system/*' | sort > "$WORK/files"
`;

const STUB = `#!/bin/sh
echo "\${0##*/} $*" >> "$STUB_LOG"
case " $* " in
*" is-enabled "*|*" was-enabled "*)
    for unit in $STUB_DISABLED; do case " $* " in *" $unit "*) exit 1 ;; esac; done ;;
esac
exit 0
`;

function runScript(text: string, args: string[], opts: { systemd: boolean; disabled?: string[] }): Outcome {
  const work = scratch('maint');
  if (/^\/(run|etc)\//.test(work)) throw new Error(`${work}: the scratch directory must not be under /run or /etc`);
  mkdirSync(`${work}/bin`);
  for (const s of STUBS) {
    writeFileSync(`${work}/bin/${s}`, STUB);
    chmodSync(`${work}/bin/${s}`, 0o755);
  }
  symlinkSync(RM, `${work}/bin/rm`);
  symlinkSync(GREP, `${work}/bin/grep`);
  writeFileSync(`${work}/script`, text);
  writeFileSync(`${work}/log`, '');
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    WORK: work,
    SCRIPT: `${work}/script`,
    STUB_DIR: `${work}/bin`,
    STUB_LOG: `${work}/log`,
    STUB_DISABLED: (opts.disabled ?? []).join(' '),
    SYSTEMD_RUNNING: opts.systemd ? 'yes' : 'no',
    FIXTURE: [...OURS, ...THEIRS].join(' '),
    MARKED: MARKED.join(' '),
  };
  ok('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', DRIVER, 'driver', ...args], { env });
  const status = Number(readFileSync(`${work}/status`, 'utf8'));
  assert.equal(status, 0, readFileSync(`${work}/out`, 'utf8'));
  return {
    status,
    calls: readFileSync(`${work}/log`, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')),
    files: readFileSync(`${work}/files`, 'utf8').split('\n').filter(Boolean),
  };
}

/** Units a call acts on, by action: `systemctl --no-reload preset a b` → preset: [a, b]. */
function actions(o: Outcome): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [tool, ...rest] of o.calls) {
    const [action, ...units] = rest.filter((a) => !a.startsWith('-'));
    if (!action || tool === 'systemd-tmpfiles') continue;
    const key = tool === 'systemctl' ? action : `${tool === 'deb-systemd-invoke' ? 'invoke' : 'helper'} ${action}`;
    out.set(key, [...(out.get(key) ?? []), ...units].sort());
  }
  return out;
}

/** Units started, restarted or stopped, whichever tool did it. */
function runtime(o: Outcome): string[] {
  const acts = actions(o);
  return ['start', 'restart', 'try-restart', 'stop']
    .flatMap((a) => [...(acts.get(a) ?? []), ...(acts.get(`invoke ${a}`) ?? [])].map((u) => `${a} ${u}`))
    .sort();
}

function neverTouchesNetworkManagers(o: Outcome): void {
  for (const call of o.calls) assert.doesNotMatch(call.join(' '), /networking|NetworkManager|networkd|network\.service/);
}

const purged = [...THEIRS].sort();
const untouched = [...OURS, ...THEIRS].sort();

let built: BuiltPackage[];
before(async () => {
  built = await packages();
}, { timeout: BUILD_TIMEOUT_MS });

describe('the .deb maintainer scripts', { skip: isRoot ? false : 'needs root (mount namespaces)' }, () => {
  const scripts: Record<string, string> = {};
  before(() => {
    const dir = scratch('control');
    ok('dpkg-deb', ['-e', packageFile(built, 'deb', ARCHES[0] as (typeof ARCHES)[number]), dir]);
    for (const s of ['postinst', 'prerm', 'postrm']) scripts[s] = readFileSync(`${dir}/${s}`, 'utf8');
  });

  test('install: enables the daemon and the boot scan, creates /run/ec2net, starts ec2netd and nothing else', () => {
    const o = runScript(scripts.postinst as string, ['configure'], { systemd: true });
    assert.deepEqual(actions(o).get('helper enable'), ENABLED_ON_INSTALL);
    assert.deepEqual(runtime(o), ['start ec2netd.service']);
    assert.ok(o.calls.some((c) => c.join(' ') === 'systemd-tmpfiles --create ec2net.conf'));
    assert.deepEqual(o.files, untouched);
    neverTouchesNetworkManagers(o);
  });

  test('install in a chroot (no systemd running): enables, starts nothing, reloads nothing', () => {
    const o = runScript(scripts.postinst as string, ['configure'], { systemd: false });
    assert.deepEqual(actions(o).get('helper enable'), ENABLED_ON_INSTALL);
    assert.deepEqual(runtime(o), []);
    assert.ok(!o.calls.some((c) => c[0] === 'systemctl' || c[0] === 'deb-systemd-invoke'));
  });

  test('upgrade: restarts ec2netd; a unit the admin disabled stays disabled', () => {
    const o = runScript(scripts.postinst as string, ['configure', '0.0.9-1'], { systemd: true, disabled: ['ec2ifscan.service'] });
    assert.deepEqual(actions(o).get('helper enable'), ['ec2net-hostname.service', 'ec2netd.service']);
    assert.deepEqual(runtime(o), ['restart ec2netd.service']);
    neverTouchesNetworkManagers(o);
  });

  test('remove: stops ec2netd, ec2ifscan (no ExecStop) and the DHCP clients only (their script goes with the package), masks the units, leaves every file', () => {
    const prerm = runScript(scripts.prerm as string, ['remove'], { systemd: true });
    assert.deepEqual(runtime(prerm), ['stop ec2ifscan.service', 'stop ec2net-dhclient@*.service', 'stop ec2netd.service']);
    const postrm = runScript(scripts.postrm as string, ['remove'], { systemd: true });
    assert.deepEqual(actions(postrm).get('helper mask'), ENABLED_ON_INSTALL);
    assert.deepEqual(postrm.files, untouched);
    for (const o of [prerm, postrm]) neverTouchesNetworkManagers(o);
  });

  test('upgrade does not stop anything in prerm', () => {
    assert.deepEqual(runtime(runScript(scripts.prerm as string, ['upgrade', '0.2.0-1'], { systemd: true })), []);
  });

  test('purge: forgets the units and removes /run/ec2net and the persistent names, nothing else', () => {
    const o = runScript(scripts.postrm as string, ['purge'], { systemd: false });
    assert.deepEqual(actions(o).get('helper purge'), ENABLED_ON_INSTALL);
    assert.deepEqual(o.files, purged);
  });
});

describe('the .rpm scriptlets', { skip: isRoot ? false : 'needs root (mount namespaces)' }, () => {
  const scriptlets: Record<string, string> = {};
  before(() => {
    const file = packageFile(built, 'rpm', ARCHES[0] as (typeof ARCHES)[number]);
    for (const tag of ['POSTIN', 'PREUN', 'POSTUN']) scriptlets[tag] = ok('rpm', ['-qp', '--qf', `%{${tag}}`, file]);
  });

  test('install: presets the units, starts ec2netd when enabled and nothing else', () => {
    const o = runScript(scriptlets.POSTIN as string, ['1'], { systemd: true });
    assert.deepEqual(actions(o).get('preset'), ENABLED_ON_INSTALL);
    assert.deepEqual(runtime(o), ['start ec2netd.service']);
    assert.deepEqual(o.files, untouched);
    neverTouchesNetworkManagers(o);
  });

  test('install where the presets disable ec2netd, or in a chroot: nothing is started', () => {
    assert.deepEqual(runtime(runScript(scriptlets.POSTIN as string, ['1'], { systemd: true, disabled: ['ec2netd.service'] })), []);
    const chroot = runScript(scriptlets.POSTIN as string, ['1'], { systemd: false });
    assert.deepEqual(actions(chroot).get('preset'), ENABLED_ON_INSTALL);
    assert.deepEqual(runtime(chroot), []);
  });

  test('upgrade: no preset again, ec2netd restarted if it runs, files left', () => {
    const post = runScript(scriptlets.POSTIN as string, ['2'], { systemd: true });
    assert.equal(actions(post).get('preset'), undefined);
    assert.deepEqual(runtime(post), []);
    assert.deepEqual(runtime(runScript(scriptlets.PREUN as string, ['1'], { systemd: true })), []);
    const postun = runScript(scriptlets.POSTUN as string, ['1'], { systemd: true });
    assert.deepEqual(runtime(postun), ['try-restart ec2netd.service']);
    assert.deepEqual(postun.files, untouched);
  });

  test('erase: disables the units, stops ec2netd and its DHCP clients only, removes what dpkg --purge removes', () => {
    const preun = runScript(scriptlets.PREUN as string, ['0'], { systemd: true });
    assert.deepEqual(actions(preun).get('disable'), ENABLED_ON_INSTALL);
    assert.deepEqual(runtime(preun), ['stop ec2net-dhclient@*.service', 'stop ec2netd.service']);
    const postun = runScript(scriptlets.POSTUN as string, ['0'], { systemd: true });
    assert.deepEqual(runtime(postun), []);
    assert.deepEqual(postun.files, purged);
    for (const o of [preun, postun]) neverTouchesNetworkManagers(o);
  });
});

test('the scripts are POSIX sh', () => {
  for (const arch of ARCHES) {
    const dir = scratch('control');
    ok('dpkg-deb', ['-e', packageFile(built, 'deb', arch), dir]);
    for (const s of ['postinst', 'prerm', 'postrm']) assert.equal(run('sh', ['-n', `${dir}/${s}`]).status, 0, s);
  }
});
