/**
 * The .deb and the .rpm as built by `npm run package`: their file lists and metadata, lintian, and the agent
 * run from an unpacked package root with the host's node, where nothing of this checkout is in reach.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { BuiltPackage } from '../../scripts/package.js';
import { ARCHES, BUNDLE, COMMANDS, CONF_MAN_PAGE, DHCLIENT_SCRIPT, PRESET, START, type Arch } from '../../scripts/package/layout.js';
import { MIN_NODE } from '../../scripts/package/meta.js';
import { completionProgram, offers } from '../support/completion.js';
import { manWarnings } from '../support/man.js';
import { BUILD_TIMEOUT_MS, HOST_ARCH, isRoot, ok, packageFile, packages, run, scratch } from './support.js';

const repo = (p: string) => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const VERSION = (JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { version: string }).version;
const CONFFILES = ['/etc/ec2net/ec2net.conf', '/etc/iproute2/rt_protos.d/ec2net.conf'];

interface Listed {
  readonly path: string;
  readonly perms: string;
  readonly owner: string;
  readonly target?: string;
}

/** Every path the package installs, whatever systemd/ and udev/ hold today. */
function expectedPaths(arch: Arch, format: 'deb' | 'rpm'): string[] {
  const list = (dir: string, re: RegExp) => readdirSync(repo(dir)).filter((n) => re.test(n));
  return [
    BUNDLE,
    START,
    DHCLIENT_SCRIPT,
    `/usr/lib/ec2net/netlink/prebuilds/linux-${arch.node}/node.napi.node`,
    ...CONFFILES,
    // rpm only: Debian enables the units in its maintainer scripts (scripts/package/layout.ts, PRESET).
    ...(format === 'rpm' ? [PRESET] : []),
    '/usr/lib/systemd/networkd.conf.d/ec2net.conf',
    CONF_MAN_PAGE,
    ...COMMANDS.flatMap((c) => [`${c.dir}/${c.name}`, `/usr/share/man/man8/${c.name}.8.gz`, `/usr/share/bash-completion/completions/${c.name}`]),
    ...list('systemd', /\.(service|socket|timer|path|target)$/).map((u) => `/usr/lib/systemd/system/${u}`),
    ...list('systemd/tmpfiles.d', /\.conf$/).map((t) => `/usr/lib/tmpfiles.d/${t}`),
    ...list('udev', /\.rules$/).map((r) => `/usr/lib/udev/rules.d/${r}`),
    ...(format === 'deb'
      ? ['/usr/share/doc/ec2net/copyright', '/usr/share/doc/ec2net/changelog.Debian.gz', '/usr/share/lintian/overrides/ec2net']
      : ['/usr/share/licenses/ec2net/copyright']),
  ].sort();
}

function debList(file: string): Listed[] {
  return ok('dpkg-deb', ['-c', file])
    .trim()
    .split('\n')
    .map((line) => {
      const [perms, owner, , , , path, arrow, target] = line.split(/\s+/);
      return { perms: perms as string, owner: owner as string, path: (path as string).replace(/^\./, ''), ...(arrow === '->' ? { target: target as string } : {}) };
    })
    .filter((f) => !f.perms.startsWith('d'));
}

function rpmList(file: string): Listed[] {
  return ok('rpm', ['-qp', '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILENAMES} %{FILELINKTOS}\n]', file])
    .trim()
    .split('\n')
    .map((line) => {
      const [perms, owner, path, target] = line.split(' ');
      return { perms: perms as string, owner: owner as string, path: path as string, ...(target ? { target } : {}) };
    })
    .filter((f) => !f.perms.startsWith('d'));
}

/** Unpacks a .deb into a fresh directory: the package root as dpkg would install it. */
function unpack(file: string): string {
  const root = scratch('root');
  ok('dpkg-deb', ['-x', file, root]);
  return root;
}

/** A command from a package root, run where neither the checkout nor its node_modules can be found. */
function runInstalled(root: string, command: string, args: string[]) {
  const c = COMMANDS.find((x) => x.name === command);
  assert.ok(c);
  const elsewhere = scratch('cwd');
  return run(`${root}${c.dir}/${c.name}`, args, {
    cwd: elsewhere,
    env: { PATH: '/usr/bin:/bin', HOME: elsewhere, NODE_PATH: `${elsewhere}/node_modules`, EC2NET_CACHE_DIR: `${elsewhere}/cache` },
  });
}

let built: BuiltPackage[];
before(async () => {
  built = await packages();
}, { timeout: BUILD_TIMEOUT_MS });

describe('file lists', () => {
  for (const arch of ARCHES) {
    test(`the ${arch.deb} .deb installs the agent, its ${arch.node} addon only, the commands, units, rules, config, man pages and completion`, () => {
      const files = debList(packageFile(built, 'deb', arch));
      assert.deepEqual(files.map((f) => f.path).sort(), expectedPaths(arch, 'deb'));
      assert.ok(files.every((f) => f.owner === 'root/root'));
      checkModes(files);
    });

    test(`the ${arch.rpm} .rpm installs the same tree`, () => {
      const files = rpmList(packageFile(built, 'rpm', arch));
      assert.deepEqual(files.map((f) => f.path).sort(), expectedPaths(arch, 'rpm'));
      assert.ok(files.every((f) => f.owner === 'root/root'));
      checkModes(files);
    });
  }

  function checkModes(files: Listed[]): void {
    const byPath = new Map(files.map((f) => [f.path, f]));
    assert.equal(byPath.get(BUNDLE)?.perms, '-rwxr-xr-x');
    assert.equal(byPath.get(START)?.perms, '-rwxr-xr-x');
    assert.equal(byPath.get(DHCLIENT_SCRIPT)?.perms, '-rwxr-xr-x');
    for (const c of COMMANDS) {
      const link = byPath.get(`${c.dir}/${c.name}`);
      assert.equal(link?.perms[0], 'l', `${c.name} is a symlink`);
      assert.equal(link?.target, '../libexec/ec2net/start.cjs');
    }
    for (const f of files.filter((x) => !x.perms.startsWith('l') && x.path !== BUNDLE && x.path !== START && x.path !== DHCLIENT_SCRIPT)) {
      assert.equal(f.perms, '-rw-r--r--', f.path);
    }
  }

  test('every ec2net program the units and udev rules run is in the package', () => {
    const installed = new Set(debList(packageFile(built, 'deb', ARCHES[0] as Arch)).map((f) => f.path));
    const texts = [
      ...readdirSync(repo('systemd')).filter((n) => n.endsWith('.service')).map((n) => readFileSync(repo(`systemd/${n}`), 'utf8')),
      ...readdirSync(repo('udev')).filter((n) => n.endsWith('.rules')).map((n) => readFileSync(repo(`udev/${n}`), 'utf8')),
    ];
    const programs = texts.flatMap((t) => [...t.matchAll(/(?:^Exec[A-Za-z]*=[-@:+!]*|RUN\+="|\s)(\/usr\/s?bin\/[^\s"]+)/gm)].map((m) => m[1] as string));
    const ours = programs.filter((p) => /\/ec2/.test(p));
    assert.ok(ours.length > 0);
    for (const p of ours) assert.ok(installed.has(p), `${p} is run but not installed`);
  });

  test('the dhclient script sits beside the bundle, where the bundle looks for it (scripts/package/entry.ts)', () => {
    assert.equal(DHCLIENT_SCRIPT.replace(/[^/]*$/, ''), BUNDLE.replace(/[^/]*$/, ''));
  });
});

describe('metadata', () => {
  for (const arch of ARCHES) {
    test(`the ${arch.deb} .deb: name, version, architecture, dependencies, conffiles, maintainer scripts`, () => {
      const file = packageFile(built, 'deb', arch);
      const fields = Object.fromEntries(
        ok('dpkg-deb', ['-f', file, 'Package', 'Version', 'Architecture', 'Depends', 'Conflicts', 'Section'])
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
      );
      assert.equal(fields.Package, 'ec2net');
      assert.equal(fields.Version, `${VERSION}-1`);
      assert.equal(fields.Architecture, arch.deb);
      assert.equal(fields.Section, 'net');
      const depends = (fields.Depends ?? '').split(', ');
      for (const d of [`nodejs (>= ${MIN_NODE})`, 'iproute2', 'isc-dhcp-client', 'libstdc++6 (>= 5)', 'libgcc-s1 (>= 3.0)']) {
        assert.ok(depends.includes(d), `Depends lacks ${d}: ${fields.Depends}`);
      }
      assert.ok(depends.some((d) => /^libc6 \(>= 2\.[0-9]+\)$/.test(d)), fields.Depends);
      assert.equal(fields.Conflicts, 'amazon-ec2-net-utils');
      assert.deepEqual(ok('dpkg-deb', ['-I', file, 'conffiles']).trim().split('\n'), CONFFILES);
      const info = ok('dpkg-deb', ['-I', file]);
      for (const script of ['postinst', 'prerm', 'postrm']) assert.match(info, new RegExp(`\\*\\s+${script}\\s+#!/bin/sh`));
    });

    test(`the ${arch.rpm} .rpm: name, version, architecture, requirements, config files, scriptlets`, () => {
      const file = packageFile(built, 'rpm', arch);
      const [name, version, release, rpmArch, license] = ok('rpm', ['-qp', '--qf', '%{NAME}\n%{VERSION}\n%{RELEASE}\n%{ARCH}\n%{LICENSE}', file]).split('\n');
      assert.deepEqual([name, version, release, rpmArch], ['ec2net', VERSION, '1', arch.rpm]);
      assert.match(license ?? '', /^Apache-2\.0( AND [A-Za-z0-9.-]+)*$/);
      const requires = ok('rpm', ['-qp', '--requires', file]).trim().split('\n');
      // A rich dependency: dhclient only for the ifcfg backend (scripts/package/meta.ts); rpm stamps the rpmlib feature.
      const dhcp = '(dhclient or NetworkManager or systemd-networkd)';
      for (const r of [`nodejs >= ${MIN_NODE}`, 'iproute', dhcp, 'rpmlib(RichDependencies) <= 4.12.0-1']) {
        assert.ok(requires.includes(r), `Requires lacks ${r}: ${requires.join(', ')}`);
      }
      assert.ok(!requires.includes('dhclient'), 'dhclient is not required outright');
      assert.equal(ok('rpm', ['-qp', '--recommends', file]).trim(), '', 'no weak dependencies (scripts/package/meta.ts)');
      assert.ok(!requires.includes('/usr/bin/node'), 'the bundle\'s #! must not add a file dependency');
      // rpm read the addon's ELF: its runtime needs are the architecture's own.
      assert.ok(requires.includes(arch.rpm === 'aarch64' ? 'ld-linux-aarch64.so.1()(64bit)' : 'libc.so.6(GLIBC_2.2.5)(64bit)'), requires.join(', '));
      assert.deepEqual(ok('rpm', ['-qp', '--configfiles', file]).trim().split('\n').sort(), CONFFILES);
      assert.deepEqual(ok('rpm', ['-qp', '--conflicts', file]).trim().split('\n').sort(), ['amazon-ec2-net-utils', 'ec2-net-utils']);
      const scripts = ok('rpm', ['-qp', '--scripts', file]);
      for (const s of ['postinstall', 'preuninstall', 'postuninstall']) assert.match(scripts, new RegExp(`${s} scriptlet`));
    });
  }

  test('each .deb holds its own architecture\'s addon, stripped', () => {
    for (const arch of ARCHES) {
      const root = unpack(packageFile(built, 'deb', arch));
      const addon = readFileSync(`${root}/usr/lib/ec2net/netlink/prebuilds/linux-${arch.node}/node.napi.node`);
      assert.equal(addon.readUInt16LE(18), arch.elfMachine);
      assert.doesNotMatch(ok('file', ['-b', `${root}/usr/lib/ec2net/netlink/prebuilds/linux-${arch.node}/node.napi.node`]), /not stripped/);
    }
  });
});

test('lintian finds nothing in the .debs beyond the documented overrides', { timeout: 120_000 }, () => {
  const debs = ARCHES.map((a) => packageFile(built, 'deb', a));
  const r = run('lintian', ['--display-info', '--display-experimental', '--pedantic', ...debs]);
  const findings = r.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l));
  assert.deepEqual(findings, []);
  assert.equal(r.status, 0, r.stderr);
});

describe('installed from the .deb into a scratch root', { skip: HOST_ARCH ? false : `no package for ${process.arch}` }, () => {
  let root: string;
  before(() => {
    root = unpack(packageFile(built, 'deb', HOST_ARCH as Arch));
  });

  test('ec2ifscan --help runs with the host\'s /usr/bin/node, prints its usage and exits 0', () => {
    const r = runInstalled(root, 'ec2ifscan', ['--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: ec2ifscan \[--boot\] \[--root DIR\] \[--verbose\]\n/);
    assert.equal(r.stderr, '');
  });

  test('every command runs from the bundle: usage, version and usage errors', () => {
    for (const c of COMMANDS) {
      const help = runInstalled(root, c.name, ['--help']);
      assert.equal(help.status, 0, `${c.name}: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`^usage: ${c.name} `), c.name);
    }
    assert.equal(runInstalled(root, 'ec2ifup', ['--version']).stdout, `ec2ifup ${VERSION}\n`);
    const usage = runInstalled(root, 'ec2ifdown', []);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /expected exactly one interface name/);
  });

  test('start.cjs runs the bundle from a code cache it leaves on the first run, used only when safe', () => {
    const home = scratch('start');
    const cache = `${home}/cache`;
    const runWith = (env: Record<string, string> = {}) => {
      const r = run(`${root}/usr/sbin/ec2ifup`, ['--version'], { cwd: home, env: { PATH: '/usr/bin:/bin', EC2NET_CACHE_DIR: cache, ...env } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `ec2ifup ${VERSION}\n`);
      return r;
    };
    const files = () => (existsSync(cache) ? readdirSync(cache) : []);
    runWith();
    const [name] = files();
    assert.match(name ?? '', new RegExp(`^ec2net-[0-9a-f]{32}-[0-9]+-[0-9]+-${process.version.replace(/\./g, '\\.')}-${process.arch}\\.v8$`));
    const file = `${cache}/${name}`;
    assert.equal(statSync(cache).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    // Used, not rewritten: V8 accepted it.
    const first = statSync(file);
    runWith();
    assert.equal(statSync(file).ino, first.ino);
    // Data V8 refuses (another node, corruption): the command runs as without it, and a good one replaces it.
    writeFileSync(file, 'not a code cache');
    runWith();
    assert.notEqual(statSync(file).size, 'not a code cache'.length);
    // A file others can write is not trusted: replaced, 0600 again.
    chmodSync(file, 0o666);
    const before = statSync(file).ino;
    runWith();
    assert.notEqual(statSync(file).ino, before);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    // Nor a directory others can write: neither read nor written.
    const open = `${home}/open`;
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    runWith({ EC2NET_CACHE_DIR: open });
    assert.deepEqual(readdirSync(open), []);
    // Under EC2NET_ROOT when no directory is named.
    runWith({ EC2NET_CACHE_DIR: '', EC2NET_ROOT: `${home}/root` });
    assert.equal(readdirSync(`${home}/root/var/cache/ec2net`).length, 1);
  });

  test('a bundle changed in place gets a cache of its own; the old one goes when the new one is written', () => {
    const copy = unpack(packageFile(built, 'deb', HOST_ARCH as Arch));
    const cache = `${scratch('start-edit')}/cache`;
    const env = { PATH: '/usr/bin:/bin', EC2NET_CACHE_DIR: cache };
    assert.equal(run(`${copy}/usr/sbin/ec2ifup`, ['--version'], { env }).status, 0);
    const [old] = readdirSync(cache);
    // Same length, same id line, different code: the version string the command prints.
    const bundle = `${copy}${BUNDLE}`;
    const text = readFileSync(bundle, 'utf8');
    const marker = `VERSION="${VERSION}"`;
    assert.equal(text.split(marker).length, 2, 'the bundle sets VERSION once');
    const edited = `VERSION="${VERSION.replace(/.$/, (c) => (c === '9' ? '8' : String(Number(c) + 1)))}"`;
    writeFileSync(bundle, text.replace(marker, edited));
    utimesSync(bundle, new Date(), new Date(Date.now() + 5000));
    const r = run(`${copy}/usr/sbin/ec2ifup`, ['--version'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.notEqual(r.stdout, `ec2ifup ${VERSION}\n`, 'the edited bundle ran, not the cached code of the old one');
    const now = readdirSync(cache);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], old);
  });

  test('the bundle talks rtnetlink through the packaged addon', { skip: isRoot ? false : 'needs root' }, () => {
    const empty = scratch('etc-root');
    const r = runInstalled(root, 'ec2net', ['status', '--json', '--root', empty]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { daemonRunning: false, interfaces: [] });
  });

  test('without the packaged addon the bundle fails: it loads no other copy', () => {
    const bare = unpack(packageFile(built, 'deb', HOST_ARCH as Arch));
    writeFileSync(`${bare}/usr/lib/ec2net/netlink/prebuilds/linux-${process.arch}/node.napi.node`, '');
    const r = runInstalled(bare, 'ec2ifscan', ['--help']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /node\.napi\.node/);
  });

  test('the other architecture\'s package refuses to run here, naming the architecture', () => {
    const other = ARCHES.find((a) => a !== HOST_ARCH) as Arch;
    const r = runInstalled(unpack(packageFile(built, 'deb', other)), 'ec2ifscan', ['--help']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`No native build was found for platform=linux arch=${process.arch}`));
  });

  test('each man page is the checkout\'s, gzipped, renders without a warning, and documents every option of its command\'s usage', () => {
    const pages = [...COMMANDS.map((c) => ({ path: `/usr/share/man/man8/${c.name}.8.gz`, source: `man/${c.name}.8` })), { path: CONF_MAN_PAGE, source: 'man/ec2net.conf.5' }];
    for (const p of pages) {
      assert.equal(gunzipSync(readFileSync(`${root}${p.path}`)).toString('utf8'), readFileSync(repo(p.source), 'utf8'));
      assert.deepEqual(manWarnings(`${root}${p.path}`), { status: 0, stderr: '' }, p.path);
    }
    for (const c of COMMANDS) {
      const page = readFileSync(repo(`man/${c.name}.8`), 'utf8');
      for (const flag of optionsOf(runInstalled(root, c.name, ['--help']).stdout)) {
        assert.ok(page.includes(flag.replace(/-/g, '\\-')), `${c.name}.8 does not document ${flag}`);
      }
    }
  });

  test('bash completion offers every option of each command\'s usage, and no interface name where none is due', () => {
    const completions = `${root}/usr/share/bash-completion/completions`;
    const complete = (words: string[]) => offers(ok('bash', ['-c', completionProgram(`${completions}/${words[0]}`), 'bash', ...words]));
    for (const c of COMMANDS) {
      const subcommands = c.name === 'ec2net' ? ['status', 'plan', 'cleanup', 'hostname'] : [''];
      for (const sub of subcommands) {
        const usage = runInstalled(root, c.name, sub ? [sub, '--help'] : ['--help']).stdout;
        const offered = complete([c.name, ...(sub ? [sub] : []), '--']);
        const line = sub ? usage.split('\n').find((l) => l.includes(`ec2net ${sub}`)) ?? '' : usage;
        for (const flag of optionsOf(line)) assert.ok(offered.includes(flag), `${c.name} ${sub}: ${flag} not offered (${offered.join(' ')})`);
      }
    }
    assert.deepEqual(complete(['ec2net', '']), ['status', 'plan', 'cleanup', 'hostname', '--help', '--version']);
    // lo is no ENI; which interfaces are offered is tested where there are some (test/net/operator.test.ts).
    assert.deepEqual(complete(['ec2ifup', 'l']), []);
    assert.deepEqual(complete(['ec2ifscan', 'l']), []);
  });
});

/** The options a usage names; of a whole --help, only its own part, before what every command's ends with (help.ts). */
function optionsOf(help: string): string[] {
  const usage = help.split('\nEnvironment:\n')[0] ?? '';
  return [...new Set(usage.match(/--[a-z][a-z-]*/g) ?? [])];
}
