/**
 * `npm run package`: the .deb and the .rpm for x86_64 and aarch64, in dist/ (or --out DIR), from a built
 * checkout. Everything in between lives under build/package/ (or --work DIR).
 *
 * Per architecture, both formats install the same tree (scripts/package/layout.ts): the agent bundled into
 * /usr/libexec/ec2net/ec2net.cjs, that architecture's netlink addon under /usr/lib/ec2net, the commands as
 * symlinks to start.cjs beside it (which runs the bundle from V8's code cache), the dhclient script, systemd units, udev rules, tmpfiles.d and rt_protos.d entries,
 * the default config, man pages and bash completion.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareAddon } from './package/addon.js';
import { bundle } from './package/bundle.js';
import { renderCopyright } from './package/copyright.js';
import { buildDeb } from './package/deb.js';
import { ADDON_DIR, ARCHES, BUNDLE, REPO, layout, relativeTarget, type Arch } from './package/layout.js';
import { buildRpm } from './package/rpm.js';

export interface BuiltPackage {
  readonly arch: Arch;
  readonly format: 'deb' | 'rpm';
  readonly file: string;
}

export interface PackageOptions {
  readonly outDir: string;
  readonly workDir: string;
  readonly arches?: readonly Arch[];
}

/** SOURCE_DATE_EPOCH, else the last commit's time, else now: the time stamp of every file in the packages. */
function buildEpoch(): number {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env && /^[0-9]+$/.test(env)) return Number(env);
  try {
    return Number(execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%ct'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return Math.floor(Date.now() / 1000);
  }
}

export async function buildPackages(opts: PackageOptions): Promise<BuiltPackage[]> {
  const pkg = JSON.parse(await readFile(`${REPO}package.json`, 'utf8')) as { version: string; license: string };
  const epoch = buildEpoch();
  await rm(opts.workDir, { recursive: true, force: true });
  await mkdir(opts.workDir, { recursive: true });
  await mkdir(opts.outDir, { recursive: true });
  const bundleFile = `${opts.workDir}/ec2net.cjs`;
  const addonDir = relativeTarget(BUNDLE, `${ADDON_DIR}/`);
  const { packages, start } = await bundle(bundleFile, addonDir.startsWith('.') ? addonDir : `./${addonDir}`);
  const debCopyright = await renderCopyright(pkg.license, packages, 'reference');
  const rpmCopyright = await renderCopyright(pkg.license, packages, 'full');
  const built: BuiltPackage[] = [];
  for (const arch of opts.arches ?? ARCHES) {
    const addon = prepareAddon(arch, `${opts.workDir}/netlink-${arch.node}.node`);
    const tree = await layout(arch, bundleFile, start, addon.file);
    const common = { arch, version: pkg.version, layout: tree, epoch, workDir: opts.workDir, outDir: opts.outDir };
    built.push({ arch, format: 'deb', file: await buildDeb({ ...common, addonDepends: addon.debDepends, copyright: debCopyright }) });
    built.push({ arch, format: 'rpm', file: await buildRpm({ ...common, copyright: rpmCopyright }) });
  }
  return built;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, work: { type: 'string' } } });
  const built = await buildPackages({ outDir: values.out ?? `${REPO}dist`, workDir: values.work ?? `${REPO}build/package` });
  for (const b of built) process.stdout.write(`${b.file}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`package: ${e instanceof Error ? e.message : String(e)}\n`);
    if (e && typeof e === 'object' && 'stderr' in e && e.stderr) process.stderr.write(String(e.stderr));
    process.exit(1);
  });
}
