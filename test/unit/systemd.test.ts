/**
 * The units in systemd/: `systemd-analyze verify` reports no problem with any of them, and the settings that
 * matter (the commands they run, the daemon's sandbox, the oneshot semantics) are what the design says, so that
 * a regression fails here. verify runs against a temporary root (--root=), in a mount namespace with a /run of
 * its own: the host's unit search path, its /run and its systemd are never used, and nothing is installed. That root holds a copy of the distribution's units (for
 * sysinit.target, network-online.target and the rest) and executable stand-ins at the installed command paths,
 * which verify checks for; that the units name exactly those paths is asserted on the real unit text.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pathsFor } from '../../src/config.js';
import { EXIT_USAGE, KINDS } from '../../src/errors.js';
import { CACHE_DIR } from '../../scripts/package/layout.js';
import { unitEnvironment, unitNodeFlags } from '../support/unit-env.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const UNIT_DIR = `${REPO}systemd/`;
const TMPFILES = `${UNIT_DIR}tmpfiles.d/ec2net.conf`;
const DISTRO_UNITS = '/usr/lib/systemd/system';

/** Installed command paths (DESIGN.md contract; packaging installs them). */
const COMMANDS = ['/usr/sbin/ec2ifup', '/usr/sbin/ec2ifdown', '/usr/sbin/ec2ifscan', '/usr/sbin/ec2netd', '/usr/bin/ec2net'];
/** The daemon runs from its command path with node's flags before it (ExecStart=/usr/bin/node FLAGS /usr/sbin/ec2netd). */
const NODE = '/usr/bin/node';
/** ec2net's dhclient unit runs the system's dhclient with ec2net's script. */
const DHCLIENT = '/sbin/dhclient';
const DHCLIENT_SCRIPT = '/usr/libexec/ec2net/ec2net-dhclient-script';
const UNITS = ['ec2netd.service', 'ec2net-ifup@.service', 'ec2ifscan.service', 'ec2net-cleanup.service', 'ec2net-hostname.service', 'ec2net-dhclient@.service'];
/** The opt-in hostname unit has a sandbox of its own (tested below); the network units share ec2netd's. */
const HOSTNAME_UNIT = 'ec2net-hostname.service';
/** The dhclient unit has a sandbox of its own too (tested below): it runs dhclient, not ec2net. */
const DHCLIENT_UNIT = 'ec2net-dhclient@.service';
/**
 * Settings of ec2netd's [Service] that are about what it runs, not its sandbox. Environment= holds the daemon's
 * memory settings (the commands are short-lived and keep the JIT).
 */
const NOT_SANDBOX = new Set(['Type', 'NotifyAccess', 'ExecStart', 'Restart', 'RestartSec', 'RestartPreventExitStatus', 'TimeoutStopSec', 'Environment',
  // The commands keep V8's JIT, which makes the code it writes executable: node aborts at startup under this.
  'MemoryDenyWriteExecute']);

type Unit = Map<string, Map<string, string[]>>;

/** systemd's unit syntax as these files use it: [Section], Key=Value, # and ; comments; a repeated key adds. */
function parseUnit(text: string, file: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1] as string, section);
      return;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (!kv || section === undefined || line.endsWith('\\')) throw new Error(`${file}:${i + 1}: not a Key=Value line in a section`);
    const [, key, value] = kv as unknown as [string, string, string];
    section.set(key, [...(section.get(key) ?? []), value.trim()]);
  });
  return unit;
}

function loadUnit(name: string): Unit {
  return parseUnit(readFileSync(`${UNIT_DIR}${name}`, 'utf8'), name);
}

function values(unit: Unit, section: string, key: string): string[] {
  return unit.get(section)?.get(key) ?? [];
}

/** The one value of a key set exactly once. */
function one(unit: Unit, section: string, key: string): string | undefined {
  const v = values(unit, section, key);
  assert.ok(v.length <= 1, `${key}= is set ${v.length} times`);
  return v[0];
}

/** A space-separated list setting, over all its assignments. */
function list(unit: Unit, section: string, key: string): string[] {
  return values(unit, section, key).flatMap((v) => v.split(/\s+/).filter((x) => x !== ''));
}

function execCommands(unit: Unit): string[] {
  const service = unit.get('Service') ?? new Map<string, string[]>();
  return [...service.entries()].filter(([k]) => k.startsWith('Exec')).flatMap(([, v]) => v);
}

/** The executable of an Exec*= line, without systemd's -@:+! prefixes. */
function executable(command: string): string {
  return (command.split(/\s+/)[0] ?? '').replace(/^[-@:+!]+/, '');
}

function run(argv: string[]): { status: number | null; output: string } {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${argv[0]}: ${r.error.message} (Debian package systemd, scripts/apt-packages.txt)`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('systemd-analyze verify, in a temporary root', () => {
  let root: string;
  let unitDir: string;

  // verify sets up a test instance of the manager, which touches /run/systemd/systemd-units-load even with
  // --root=; it runs in a mount namespace of its own with an empty /run, so the host's /run is never written.
  const verify = (...names: string[]) =>
    run(['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs ec2net-verify-run /run && exec "$@"', 'sh',
      // --man=no: verify would ask the host's man(1) about Documentation=man: pages, which are not installed
      // here; the test below checks them against the repository's man/ instead.
      'systemd-analyze', 'verify', '--man=no', `--root=${root}`, ...names]);
  const asVerified = (name: string) => name.replace('@.service', '@eth1.service');

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'ec2net-systemd-'));
    unitDir = `${root}${DISTRO_UNITS}`;
    cpSync(DISTRO_UNITS, unitDir, { recursive: true, verbatimSymlinks: true });
    for (const name of UNITS) copyFileSync(`${UNIT_DIR}${name}`, `${unitDir}/${name}`);
    for (const command of [...COMMANDS, NODE, DHCLIENT, DHCLIENT_SCRIPT]) {
      mkdirSync(dirname(`${root}${command}`), { recursive: true });
      writeFileSync(`${root}${command}`, '#!/bin/sh\nexit 0\n');
      chmodSync(`${root}${command}`, 0o755);
    }
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('systemd/ holds exactly these units', () => {
    assert.deepEqual(readdirSync(UNIT_DIR).filter((f) => f.endsWith('.service')).sort(), [...UNITS].sort());
  });

  for (const name of UNITS) {
    test(`${name}: no problems reported`, () => {
      const r = verify(asVerified(name));
      assert.deepEqual(r, { status: 0, output: '' });
    });
  }

  test('verify is not vacuous: it reports a misspelt setting', () => {
    const text = readFileSync(`${UNIT_DIR}ec2netd.service`, 'utf8').replace('ProtectSystem=strict', 'ProtectSytem=strict');
    writeFileSync(`${unitDir}/ec2net-typo.service`, text);
    const r = verify('ec2net-typo.service');
    // A warning, with exit status 0: hence "no problems" above means empty output as well as status 0.
    assert.match(r.output, /Unknown key 'ProtectSytem' in section \[Service\]/);
  });

  test('verify is not vacuous: it reports a command that is not in the root', () => {
    const text = readFileSync(`${UNIT_DIR}ec2netd.service`, 'utf8').replace('ExecStart=/usr/bin/node ', 'ExecStart=/usr/sbin/ec2net-missing ');
    writeFileSync(`${unitDir}/ec2net-missing.service`, text);
    const r = verify('ec2net-missing.service');
    assert.notEqual(r.status, 0);
    assert.match(r.output, /\/usr\/sbin\/ec2net-missing is not executable/);
  });
});

describe('the units run the installed commands', () => {
  test('every Exec line names one of the installed command paths (the daemon\'s behind node and its flags), and nothing else', () => {
    for (const name of UNITS.filter((n) => n !== DHCLIENT_UNIT)) {
      for (const command of execCommands(loadUnit(name))) {
        const words = command.split(/\s+/);
        const program = executable(command) === NODE ? words.find((w, i) => i > 0 && !w.startsWith('--')) ?? '' : executable(command);
        assert.ok(COMMANDS.includes(program), `${name}: ${command}`);
      }
    }
    assert.deepEqual(execCommands(loadUnit(DHCLIENT_UNIT)).map(executable), [DHCLIENT]);
  });

  test('every Documentation=man: page is one the repository ships in man/', () => {
    for (const name of UNITS) {
      const pages = list(loadUnit(name), 'Unit', 'Documentation');
      assert.ok(pages.length > 0, `${name} has no Documentation=`);
      for (const page of pages) {
        const m = /^man:([a-z0-9@.-]+)\(([1-8])\)$/.exec(page);
        assert.ok(m, `${name}: ${page}`);
        assert.ok(existsSync(`${REPO}man/${m[1]}.${m[2]}`), `${name}: man/${m[1]}.${m[2]} does not exist`);
      }
    }
  });

  test('each installed command is a package.json bin name', () => {
    const bin = (JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { bin: Record<string, string> }).bin;
    for (const command of COMMANDS) assert.ok(basename(command) in bin, `${basename(command)} is not in package.json bin`);
  });

  test('ec2netd.service', () => {
    const u = loadUnit('ec2netd.service');
    assert.equal(one(u, 'Service', 'ExecStart'), `${NODE} ${unitNodeFlags('ec2netd.service').join(' ')} /usr/sbin/ec2netd`);
    assert.equal(one(u, 'Service', 'Type'), 'notify');
    // READY=1 comes from `systemd-notify --ready`, a child process.
    assert.equal(one(u, 'Service', 'NotifyAccess'), 'all');
    assert.equal(one(u, 'Service', 'Restart'), 'on-failure');
    assert.match(one(u, 'Service', 'RestartSec') ?? '', /^[1-9][0-9]*s$/);
    // What can end the daemon's start and will not pass by itself is not restarted: usage, ec2net.conf, not root.
    assert.deepEqual(list(u, 'Service', 'RestartPreventExitStatus'), [EXIT_USAGE, KINDS.InvalidArgument.exit, KINDS.PermissionDenied.exit].map(String));
    assert.match(one(u, 'Unit', 'StartLimitIntervalSec') ?? '', /^[1-9][0-9]*$/);
    assert.match(one(u, 'Unit', 'StartLimitBurst') ?? '', /^[1-9][0-9]*$/);
    assert.ok(list(u, 'Unit', 'After').includes('network-pre.target'));
    assert.ok(list(u, 'Unit', 'After').includes('systemd-udevd.service'));
    assert.ok(list(u, 'Unit', 'Before').includes('network-online.target'));
    assert.deepEqual(list(u, 'Install', 'WantedBy'), ['multi-user.target']);
  });

  test('ec2net-ifup@.service: bound to the device; stopping tolerates a device that is already gone', () => {
    const u = loadUnit('ec2net-ifup@.service');
    assert.equal(one(u, 'Service', 'Type'), 'oneshot');
    assert.equal(one(u, 'Service', 'RemainAfterExit'), 'yes');
    assert.equal(one(u, 'Service', 'ExecStart'), '/usr/sbin/ec2ifup %I');
    assert.equal(one(u, 'Service', 'ExecStop'), '-/usr/sbin/ec2ifdown %I');
    assert.deepEqual(list(u, 'Unit', 'BindsTo'), ['sys-subsystem-net-devices-%i.device']);
    assert.ok(list(u, 'Unit', 'After').includes('sys-subsystem-net-devices-%i.device'));
    assert.ok(list(u, 'Unit', 'Before').includes('network-online.target'));
  });

  test('ec2ifscan.service waits for IMDS as at boot, and stays active, so the dhclients initscripts starts are not killed when it exits', () => {
    const u = loadUnit('ec2ifscan.service');
    assert.equal(one(u, 'Service', 'ExecStart'), '/usr/sbin/ec2ifscan --boot');
    assert.equal(one(u, 'Service', 'Type'), 'oneshot');
    assert.equal(one(u, 'Service', 'RemainAfterExit'), 'yes');
    assert.deepEqual(list(u, 'Install', 'WantedBy'), ['multi-user.target']);
  });

  test('ec2net-cleanup.service runs again for every remove event: oneshot, never remains active, not enabled', () => {
    const u = loadUnit('ec2net-cleanup.service');
    assert.equal(one(u, 'Service', 'ExecStart'), '/usr/bin/ec2net cleanup');
    assert.equal(one(u, 'Service', 'Type'), 'oneshot');
    assert.notEqual(one(u, 'Service', 'RemainAfterExit'), 'yes');
    assert.equal(u.get('Install'), undefined);
  });
});

describe("ec2netd.service's sandbox", () => {
  const u = loadUnit('ec2netd.service');
  const root = pathsFor('/');

  test('capabilities: exactly what netlink and DHCP need, none ambient (it runs as root)', () => {
    assert.deepEqual(list(u, 'Service', 'CapabilityBoundingSet').sort(), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    assert.deepEqual(values(u, 'Service', 'AmbientCapabilities'), []);
    assert.deepEqual(values(u, 'Service', 'User'), []);
    assert.equal(one(u, 'Service', 'NoNewPrivileges'), 'yes');
  });

  test('the daemon runs without the JIT, with one V8 and one libuv worker, two malloc arenas, and gc() for its compactor (README, "Performance")', () => {
    assert.deepEqual(unitNodeFlags('ec2netd.service'), ['--jitless', '--no-expose-wasm', '--v8-pool-size=1', '--expose-gc']);
    assert.deepEqual(unitEnvironment('ec2netd.service'), { UV_THREADPOOL_SIZE: '1', MALLOC_ARENA_MAX: '2' });
  });

  test('no node flag goes in NODE_OPTIONS: node 18 refuses --expose-gc there and exits 9 (Debian 12\'s nodejs 18.20.4)', () => {
    for (const name of UNITS) assert.equal(unitEnvironment(name).NODE_OPTIONS, undefined, name);
  });

  test('without the JIT, no memory is made executable: MemoryDenyWriteExecute=yes', () => {
    assert.equal(one(u, 'Service', 'MemoryDenyWriteExecute'), 'yes');
  });

  test('writable: only /run/ec2net, /run/systemd/network, the IPv6 interface sysctls, the /etc directories ec2net writes (paths taken from src/config.ts) and the code cache', () => {
    assert.equal(one(u, 'Service', 'ProtectSystem'), 'strict');
    const writable = [
      ...list(u, 'Service', 'ReadWritePaths').map((p) => p.replace(/^-/, '')),
      ...list(u, 'Service', 'ConfigurationDirectory').map((d) => `/etc/${d}`),
      ...list(u, 'Service', 'CacheDirectory').map((d) => `/var/cache/${d}`),
    ].sort();
    // The networkd backend's units, the RA default-route metric of each interface (a per-namespace sysctl), and
    // start.cjs's code cache of the bundle (root's only: CacheDirectoryMode=0700).
    assert.deepEqual(writable, [root.dhcp, root.networkScripts, '/etc/udev/rules.d', root.runDir, root.runNetwork, '/proc/sys/net/ipv6/conf', CACHE_DIR].sort());
    assert.equal(one(u, 'Service', 'CacheDirectoryMode'), '0700');
    // initscripts' directory is written where it exists, never created (ConfigurationDirectory= would make it on Debian).
    assert.ok(list(u, 'Service', 'ReadWritePaths').includes(`-${root.networkScripts}`));
    assert.ok(!list(u, 'Service', 'ConfigurationDirectory').some((d) => `/etc/${d}` === root.networkScripts));
    assert.ok(root.stateDir.startsWith(`${root.runDir}/`));
    // RuntimeDirectory= would be removed when the unit stops, with the state ec2ifup and ec2ifdown share.
    for (const key of ['RuntimeDirectory', 'StateDirectory', 'LogsDirectory', 'ReadOnlyPaths', 'InaccessiblePaths']) {
      assert.deepEqual(values(u, 'Service', key), [], key);
    }
  });

  test('every ReadWritePaths= directory that must exist is created by the tmpfiles.d entry', () => {
    const created = readFileSync(TMPFILES, 'utf8')
      .split('\n')
      .filter((l) => /^d\s/.test(l))
      .map((l) => l.split(/\s+/)[1]);
    for (const p of list(u, 'Service', 'ReadWritePaths').filter((x) => !x.startsWith('-'))) assert.ok(created.includes(p), p);
  });

  test('the tmpfiles.d entry creates /run/ec2net, mode 0700, in a temporary root', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'ec2net-tmpfiles-'));
    try {
      const r = run(['systemd-tmpfiles', `--root=${tmp}`, '--create', TMPFILES]);
      assert.deepEqual(r, { status: 0, output: '' });
      const st = statSync(`${tmp}${root.runDir}`);
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o7777, 0o700);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('namespaces, address families, kernel and personality restrictions', () => {
    for (const key of ['ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs',
      'ProtectControlGroups', 'ProtectClock', 'ProtectHostname', 'RestrictNamespaces', 'LockPersonality', 'RestrictRealtime', 'RestrictSUIDSGID']) {
      assert.equal(one(u, 'Service', key), 'yes', key);
    }
    assert.deepEqual(list(u, 'Service', 'RestrictAddressFamilies').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_PACKET', 'AF_UNIX']);
    assert.equal(one(u, 'Service', 'SystemCallArchitectures'), 'native');
    assert.equal(one(u, 'Service', 'SystemCallFilter'), '@system-service');
    assert.equal(one(u, 'Service', 'SystemCallErrorNumber'), 'EPERM');
    assert.equal(one(u, 'Service', 'ProtectProc'), 'invisible');
  });

  test('the units that run ec2ifup, ec2ifscan and ec2net cleanup carry the same sandbox', () => {
    const sandbox = [...(u.get('Service') ?? new Map<string, string[]>()).entries()].filter(([k]) => !NOT_SANDBOX.has(k));
    assert.ok(sandbox.length >= 20);
    for (const name of UNITS.filter((n) => n !== 'ec2netd.service' && n !== HOSTNAME_UNIT && n !== DHCLIENT_UNIT)) {
      const other = loadUnit(name);
      for (const [key, value] of sandbox) assert.deepEqual(values(other, 'Service', key), value, `${name}: ${key}`);
    }
  });
});

describe("ec2net-hostname.service's sandbox", () => {
  const h = loadUnit(HOSTNAME_UNIT);
  test('sethostname(2) and /etc/hostname, and no network capability', () => {
    assert.deepEqual(list(h, 'Service', 'CapabilityBoundingSet'), ['CAP_SYS_ADMIN']);
    assert.equal(one(h, 'Service', 'ProtectSystem'), 'strict');
    assert.deepEqual(list(h, 'Service', 'ReadWritePaths').sort(), ['/etc', '/proc/sys/kernel/hostname']);
    assert.deepEqual(values(h, 'Service', 'ProtectHostname'), [], 'ProtectHostname=yes would make the change private to the unit');
    for (const key of ['NoNewPrivileges', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectHome', 'RestrictNamespaces']) assert.equal(one(h, 'Service', key), 'yes', key);
    assert.deepEqual(execCommands(h), ['/usr/bin/ec2net hostname']);
  });
});

describe("ec2net-dhclient@.service: the DHCP client ec2net starts, in a unit of its own", () => {
  const d = loadUnit(DHCLIENT_UNIT);
  test('the command line ec2net runs dhclient with when it runs it itself, in the foreground, files under /run/ec2net (src/config.ts)', () => {
    const run = pathsFor('/').runDir;
    assert.deepEqual(execCommands(d), [
      `${DHCLIENT} -4 -cf ${run}/dhclient-%i.conf -sf ${DHCLIENT_SCRIPT} -pf ${run}/dhclient-%i.pid -lf ${run}/dhclient-%i.leases -e EC2NET_ROUTE_METRIC=\${EC2NET_ROUTE_METRIC} -d %I`,
    ]);
    // In the foreground: systemd knows its pid at once (a forking dhclient writes its pid file after the parent exits).
    assert.equal(one(d, 'Service', 'Type'), 'simple');
    assert.equal(one(d, 'Service', 'Restart'), 'on-failure');
    // Started by ec2net when an ENI needs it, never at boot or by udev.
    assert.equal(d.get('Install'), undefined);
  });
  test('its sandbox: the capabilities DHCP and `ip` need, writable /run/ec2net only, no executable memory', () => {
    assert.deepEqual(list(d, 'Service', 'CapabilityBoundingSet').sort(), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    assert.equal(one(d, 'Service', 'ProtectSystem'), 'strict');
    assert.deepEqual(list(d, 'Service', 'ReadWritePaths'), [pathsFor('/').runDir]);
    for (const key of ['NoNewPrivileges', 'ProtectKernelTunables', 'ProtectHome', 'PrivateTmp', 'RestrictNamespaces', 'MemoryDenyWriteExecute']) {
      assert.equal(one(d, 'Service', key), 'yes', key);
    }
  });
});
