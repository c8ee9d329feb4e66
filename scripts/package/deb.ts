/**
 * The .deb: the staged tree plus Debian's own files (copyright, changelog, DEBIAN/ control files and maintainer
 * scripts from packaging/deb/), built with dpkg-deb as root:root whoever builds it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { gzipSync, constants } from 'node:zlib';
import type { Copyright } from './copyright.js';
import { CACHE_DIR, DAEMON_UNIT, PERSISTENT_NET_RULES, REPO, RUN_DIR, type Arch, type Entry, type Layout } from './layout.js';
import { CONFLICTS, DESCRIPTION, MAINTAINER, NAME, RELEASE, RUNTIME_DEPENDS, SUMMARY, wrap } from './meta.js';
import { stage, walk } from './stage.js';
import { fill } from './template.js';

const DOC_DIR = `/usr/share/doc/${NAME}`;
const MAINTAINER_SCRIPTS = ['postinst', 'prerm', 'postrm'] as const;

export interface DebInput {
  readonly arch: Arch;
  readonly version: string;
  readonly layout: Layout;
  readonly addonDepends: readonly string[];
  readonly copyright: Copyright;
  readonly epoch: number;
  readonly workDir: string;
  readonly outDir: string;
}

export function debFileName(version: string, arch: Arch): string {
  return `${NAME}_${version}-${RELEASE}_${arch.deb}.deb`;
}

function changelog(version: string, epoch: number): string {
  const date = new Date(epoch * 1000).toUTCString().replace('GMT', '+0000');
  return [
    `${NAME} (${version}-${RELEASE}) unstable; urgency=medium`,
    '',
    '  * Built from the ec2net source tree by `npm run package`.',
    '',
    ` -- ${MAINTAINER}  ${date}`,
    '',
  ].join('\n');
}

function control(input: DebInput, installedSizeKiB: number): string {
  const depends = [...RUNTIME_DEPENDS.deb, ...input.addonDepends];
  const long = DESCRIPTION.map((p) => wrap(p, 78).map((l) => ` ${l}`).join('\n')).join('\n .\n');
  return [
    `Package: ${NAME}`,
    `Version: ${input.version}-${RELEASE}`,
    `Architecture: ${input.arch.deb}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedSizeKiB}`,
    `Depends: ${depends.join(', ')}`,
    `Conflicts: ${CONFLICTS.deb.join(', ')}`,
    'Section: net',
    'Priority: optional',
    `Description: ${SUMMARY}`,
    long,
    '',
  ].join('\n');
}

export async function buildDeb(input: DebInput): Promise<string> {
  const root = `${input.workDir}/deb-${input.arch.deb}`;
  const mtime = new Date(input.epoch * 1000);
  const entries: Entry[] = [
    ...input.layout.entries,
    { type: 'content', path: `${DOC_DIR}/copyright`, mode: 0o644, content: input.copyright.text },
    { type: 'file', path: `/usr/share/lintian/overrides/${NAME}`, mode: 0o644, source: `${REPO}packaging/deb/lintian-overrides` },
    {
      type: 'content',
      path: `${DOC_DIR}/changelog.Debian.gz`,
      mode: 0o644,
      content: gzipSync(changelog(input.version, input.epoch), { level: constants.Z_BEST_COMPRESSION }),
    },
  ];
  await stage(root, entries, mtime);

  // Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, and one per directory and symlink.
  const tree = await walk(root);
  const installedSize = tree.reduce((sum, f) => sum + (f.kind === 'file' ? Math.ceil(f.size / 1024) : 1), 0);
  const files = tree.filter((f) => f.kind === 'file');
  const conffiles = entries.filter((e) => e.type !== 'symlink' && e.conffile).map((e) => e.path);
  const md5sums: string[] = [];
  for (const f of files) {
    if (conffiles.includes(f.path)) continue;
    md5sums.push(`${createHash('md5').update(await readFile(`${root}${f.path}`)).digest('hex')}  ${f.path.slice(1)}`);
  }

  const debian = `${root}/DEBIAN`;
  await mkdir(debian, { mode: 0o755 });
  await writeFile(`${debian}/control`, control(input, installedSize));
  await writeFile(`${debian}/conffiles`, conffiles.map((c) => `${c}\n`).join(''));
  await writeFile(`${debian}/md5sums`, md5sums.map((l) => `${l}\n`).join(''));
  const values = {
    ENABLE_UNITS: input.layout.enable.join(' '),
    DAEMON_UNIT,
    TMPFILES: input.layout.tmpfiles.join(' '),
    RUN_DIR,
    CACHE_DIR,
    PERSISTENT_NET_RULES,
  };
  for (const script of MAINTAINER_SCRIPTS) {
    const text = fill(await readFile(`${REPO}packaging/deb/${script}`, 'utf8'), values, `packaging/deb/${script}`);
    await writeFile(`${debian}/${script}`, text);
    await chmod(`${debian}/${script}`, 0o755);
  }
  for (const f of ['control', 'conffiles', 'md5sums']) await chmod(`${debian}/${f}`, 0o644);

  const out = `${input.outDir}/${debFileName(input.version, input.arch)}`;
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(input.epoch) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return out;
}
