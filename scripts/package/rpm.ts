/**
 * The .rpm: the staged tree (the .deb's, with the license file where rpm distributions keep it) and a spec
 * rendered from packaging/rpm/ec2net.spec.in, built with rpmbuild --target for the architecture.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Copyright } from './copyright.js';
import { CACHE_DIR, DAEMON_UNIT, LIB_DIR, LIBEXEC_DIR, PERSISTENT_NET_RULES, REPO, RUN_DIR, presetEntry, type Arch, type Entry, type Layout } from './layout.js';
import { CONFLICTS, DESCRIPTION, MAINTAINER, NAME, RELEASE, RUNTIME_DEPENDS, SUMMARY, wrap } from './meta.js';
import { stage, walk } from './stage.js';
import { fill } from './template.js';

const LICENSE_FILE = `/usr/share/licenses/${NAME}/copyright`;
/** Directories the package owns; the rest (/usr/sbin, /usr/lib/systemd/system, ...) belong to the system. */
const OWN_DIRS = [LIB_DIR, LIBEXEC_DIR, `/etc/${NAME}`, `/usr/share/licenses/${NAME}`];

export interface RpmInput {
  readonly arch: Arch;
  readonly version: string;
  readonly layout: Layout;
  readonly copyright: Copyright;
  readonly epoch: number;
  readonly workDir: string;
  readonly outDir: string;
}

export function rpmFileName(version: string, arch: Arch): string {
  return `${NAME}-${version}-${RELEASE}.${arch.rpm}.rpm`;
}

/** A path as the %files section takes it: rpm globs and expands macros, so only plain names are accepted. */
function plain(path: string): string {
  if (!/^[A-Za-z0-9/._@+-]+$/.test(path)) throw new Error(`${path}: not a plain path for %files`);
  return path;
}

export async function buildRpm(input: RpmInput): Promise<string> {
  const base = `${input.workDir}/rpm-${input.arch.rpm}`;
  const root = `${base}/root`;
  const entries: Entry[] = [...input.layout.entries, presetEntry(input.layout), { type: 'content', path: LICENSE_FILE, mode: 0o644, content: input.copyright.text }];
  await stage(root, entries, new Date(input.epoch * 1000));

  const conffiles = new Set(entries.filter((e) => e.type !== 'symlink' && e.conffile).map((e) => e.path));
  const files = ['%defattr(-,root,root,-)'];
  for (const f of await walk(root)) {
    if (f.kind === 'dir') {
      if (OWN_DIRS.some((d) => f.path === d || f.path.startsWith(`${d}/`))) files.push(`%dir ${plain(f.path)}`);
    } else if (conffiles.has(f.path)) files.push(`%config(noreplace) ${plain(f.path)}`);
    else if (f.path === LICENSE_FILE) files.push(`%license ${plain(f.path)}`);
    else files.push(plain(f.path));
  }

  const spec = fill(
    await readFile(`${REPO}packaging/rpm/ec2net.spec.in`, 'utf8'),
    {
      NAME,
      VERSION: input.version,
      RELEASE,
      SUMMARY,
      LICENSE: input.copyright.spdx,
      MAINTAINER,
      REQUIRES: RUNTIME_DEPENDS.rpm.map((r) => `Requires:       ${r}`).join('\n'),
      CONFLICTS: CONFLICTS.rpm.map((c) => `Conflicts:      ${c}`).join('\n'),
      DESCRIPTION: DESCRIPTION.map((p) => wrap(p, 78).join('\n')).join('\n\n'),
      STAGE: root,
      ENABLE_UNITS: input.layout.enable.join(' '),
      DAEMON_UNIT,
      TMPFILES: input.layout.tmpfiles.join(' '),
      RUN_DIR,
      CACHE_DIR,
      PERSISTENT_NET_RULES,
      FILES: files.join('\n'),
    },
    'packaging/rpm/ec2net.spec.in',
  );
  if (root.includes("'")) throw new Error(`${root}: the staging path may not hold a quote`);
  const specFile = `${base}/${NAME}.spec`;
  await writeFile(specFile, spec);
  const top = `${base}/rpmbuild`;
  await mkdir(top, { recursive: true });
  execFileSync(
    'rpmbuild',
    [
      '-bb',
      '--target',
      input.arch.rpm,
      '--define',
      `_topdir ${top}`,
      '--define',
      `_rpmdir ${input.outDir}`,
      '--define',
      '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
      '--define',
      `_tmppath ${base}/tmp`,
      '--define',
      '_dbpath /nonexistent',
      specFile,
    ],
    { env: { ...process.env, SOURCE_DATE_EPOCH: String(input.epoch) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return `${input.outDir}/${rpmFileName(input.version, input.arch)}`;
}
