/**
 * The installed file tree, the same for both formats: which file of the checkout goes where, with what mode.
 * The systemd units, tmpfiles.d entries and udev rules are whatever systemd/ and udev/ hold when the package is
 * built. Pure description; stage.ts writes it to disk.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { NAME } from './meta.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface Arch {
  /** dpkg's name. */
  readonly deb: 'amd64' | 'arm64';
  /** rpm's name (rpmbuild --target). */
  readonly rpm: 'x86_64' | 'aarch64';
  /** node's os.arch(), as node-gyp-build names the prebuilds directory. */
  readonly node: 'x64' | 'arm64';
  /** ELF e_machine of the addon, checked so that a mix-up cannot ship. */
  readonly elfMachine: number;
  /** binutils' strip for this architecture (x86_64 from binutils, aarch64 from binutils-aarch64-linux-gnu). */
  readonly strip: string;
}

export const ARCHES: readonly Arch[] = [
  { deb: 'amd64', rpm: 'x86_64', node: 'x64', elfMachine: 62, strip: 'x86_64-linux-gnu-strip' },
  { deb: 'arm64', rpm: 'aarch64', node: 'arm64', elfMachine: 183, strip: 'aarch64-linux-gnu-strip' },
];

/**
 * The bundle is an executable of the package's own, so it sits in /usr/libexec (FHS 3.0) beside the dhclient
 * script, which its entry finds there (scripts/package/entry.ts). The addon is a shared object: /usr/lib.
 */
export const LIBEXEC_DIR = `/usr/libexec/${NAME}`;
export const BUNDLE = `${LIBEXEC_DIR}/${NAME}.cjs`;
/** What the commands run: the bundle, from V8's code cache of it when there is one (scripts/package/start.cts). */
export const START = `${LIBEXEC_DIR}/start.cjs`;
/** start.cjs keeps its code cache here (root's, 0700; the units' CacheDirectory=). */
export const CACHE_DIR = `/var/cache/${NAME}`;
export const DHCLIENT_SCRIPT = `${LIBEXEC_DIR}/ec2net-dhclient-script`;
export const LIB_DIR = `/usr/lib/${NAME}`;
/** node-gyp-build's layout: ADDON_DIR/prebuilds/linux-ARCH/node.napi.node. */
export const ADDON_DIR = `${LIB_DIR}/netlink`;
export const UNIT_DIR = '/usr/lib/systemd/system';
export const COMPLETIONS_DIR = '/usr/share/bash-completion/completions';
/** ec2net.conf(5); each command's page is man8/COMMAND.8.gz. */
export const CONF_MAN_PAGE = '/usr/share/man/man5/ec2net.conf.5.gz';
export const PERSISTENT_NET_RULES = '/etc/udev/rules.d/70-ec2net-persistent-net.rules';
export const RUN_DIR = '/run/ec2net';
/** The daemon: the one unit the maintainer scripts start, stop and restart. */
export const DAEMON_UNIT = 'ec2netd.service';

/** Admin commands in /usr/sbin, the rest in /usr/bin; each is a symlink to start.cjs, which runs the bundle. */
export const COMMANDS = [
  { name: 'ec2ifup', dir: '/usr/sbin' },
  { name: 'ec2ifdown', dir: '/usr/sbin' },
  { name: 'ec2ifscan', dir: '/usr/sbin' },
  { name: 'ec2netd', dir: '/usr/sbin' },
  { name: 'ec2net', dir: '/usr/bin' },
] as const;

export type Entry =
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly source: string; readonly conffile?: boolean; readonly gzip?: boolean }
  | { readonly type: 'content'; readonly path: string; readonly mode: number; readonly content: string | Buffer; readonly conffile?: boolean }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string };

export interface Layout {
  readonly entries: Entry[];
  /** Units whose [Install] section makes them enabled on install (templates are started by udev, not enabled). */
  readonly enable: string[];
  /** tmpfiles.d entries to apply on install. */
  readonly tmpfiles: string[];
}

/** `to` relative to `from`'s directory: symlink targets (Debian policy: relative within /usr) and URLs. */
export function relativeTarget(from: string, to: string): string {
  const a = from.split('/').slice(1, -1);
  const b = to.split('/').slice(1);
  let i = 0;
  while (i < a.length && i < b.length - 1 && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
}

async function list(dir: string, suffixes: readonly string[]): Promise<string[]> {
  const names = await readdir(`${REPO}${dir}`).catch(() => [] as string[]);
  return names.filter((n) => suffixes.some((s) => n.endsWith(s))).sort();
}

/**
 * The rpm's preset: Fedora and Amazon Linux enable units by preset (their 90-default.preset disables everything
 * else); this one sorts before it. The .deb has none: Debian's maintainer scripts enable the units directly, and on
 * Debian 12 (merged /usr) dpkg knows the preset directory as systemd's /lib/systemd/system-preset, so a file of ours
 * in /usr/lib/systemd/system-preset made `dpkg --purge` warn that the directory it thought ours was not empty.
 */
export const PRESET = '/usr/lib/systemd/system-preset/80-ec2net.preset';

export function presetEntry(l: Layout): Entry {
  return { type: 'content', path: PRESET, mode: 0o644, content: l.enable.map((u) => `enable ${u}\n`).join('') };
}

/** A unit is enabled on install when it has an [Install] section with a target and is not a template. */
export function wantsEnable(name: string, text: string): boolean {
  if (name.includes('@.')) return false;
  const install = /^\[Install\]$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text);
  return install !== null && /^(WantedBy|RequiredBy|Also)=\S/m.test(install[1] ?? '');
}

export async function layout(arch: Arch, bundleFile: string, startFile: string, addonFile: string): Promise<Layout> {
  const entries: Entry[] = [
    { type: 'file', path: BUNDLE, mode: 0o755, source: bundleFile },
    { type: 'file', path: START, mode: 0o755, source: startFile },
    { type: 'file', path: `${ADDON_DIR}/prebuilds/linux-${arch.node}/node.napi.node`, mode: 0o644, source: addonFile },
    { type: 'file', path: DHCLIENT_SCRIPT, mode: 0o755, source: `${REPO}libexec/ec2net-dhclient-script` },
    { type: 'file', path: `/etc/${NAME}/ec2net.conf`, mode: 0o644, source: `${REPO}packaging/ec2net.conf`, conffile: true },
    { type: 'file', path: '/etc/iproute2/rt_protos.d/ec2net.conf', mode: 0o644, source: `${REPO}packaging/rt_protos.d/ec2net.conf`, conffile: true },
    { type: 'file', path: `${COMPLETIONS_DIR}/${NAME}`, mode: 0o644, source: `${REPO}completion/ec2net` },
    { type: 'file', path: CONF_MAN_PAGE, mode: 0o644, source: `${REPO}man/ec2net.conf.5`, gzip: true },
    // networkd leaves other tools' rules and routes alone (see the file); a vendor drop-in the admin can override in /etc.
    { type: 'file', path: '/usr/lib/systemd/networkd.conf.d/ec2net.conf', mode: 0o644, source: `${REPO}packaging/networkd.conf.d/ec2net.conf` },
  ];
  for (const c of COMMANDS) {
    entries.push({ type: 'symlink', path: `${c.dir}/${c.name}`, target: relativeTarget(`${c.dir}/${c.name}`, START) });
    entries.push({ type: 'file', path: `/usr/share/man/man8/${c.name}.8.gz`, mode: 0o644, source: `${REPO}man/${c.name}.8`, gzip: true });
    if (c.name !== NAME) entries.push({ type: 'symlink', path: `${COMPLETIONS_DIR}/${c.name}`, target: NAME });
  }
  const enable: string[] = [];
  for (const unit of await list('systemd', ['.service', '.socket', '.timer', '.path', '.target'])) {
    const source = `${REPO}systemd/${unit}`;
    entries.push({ type: 'file', path: `${UNIT_DIR}/${unit}`, mode: 0o644, source });
    if (wantsEnable(unit, await readFile(source, 'utf8'))) enable.push(unit);
  }
  if (!enable.includes(DAEMON_UNIT)) throw new Error(`systemd/${DAEMON_UNIT} is missing or has no [Install] section`);
  const tmpfiles = await list('systemd/tmpfiles.d', ['.conf']);
  for (const t of tmpfiles) entries.push({ type: 'file', path: `/usr/lib/tmpfiles.d/${t}`, mode: 0o644, source: `${REPO}systemd/tmpfiles.d/${t}` });
  for (const r of await list('udev', ['.rules'])) entries.push({ type: 'file', path: `/usr/lib/udev/rules.d/${r}`, mode: 0o644, source: `${REPO}udev/${r}` });
  return { entries, enable, tmpfiles };
}
