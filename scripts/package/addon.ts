/**
 * The netlink addon for one architecture: netlink's prebuild, checked to be that architecture's ELF, and stripped
 * (Debian ships shared objects without their symbol tables). Also what it needs from the C and C++ runtimes, for
 * the .deb's Depends (rpm finds the same from the ELF by itself).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { REPO, type Arch } from './layout.js';

/** Debian package versions that provide each symbol version the addon needs, up to what netlink 0.3.0 uses. */
const GLIBCXX_TO_LIBSTDCXX: Record<string, string> = { '3.4': '4.1.1', '3.4.9': '4.2.1', '3.4.21': '5' };
const GCC_TO_LIBGCC: Record<string, string> = { '3.0': '3.0' };

function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function highest(text: string, prefix: string): string | undefined {
  const versions = [...text.matchAll(new RegExp(`\\b${prefix}_([0-9]+(?:\\.[0-9]+)+)\\b`, 'g'))].map((m) => m[1] as string);
  return versions.sort(compareVersions).pop();
}

export interface Addon {
  readonly file: string;
  /** Debian dependencies of the shared object. */
  readonly debDepends: string[];
}

export function prepareAddon(arch: Arch, dest: string): Addon {
  const source = `${REPO}node_modules/netlink/prebuilds/linux-${arch.node}/node.napi.node`;
  const bytes = readFileSync(source);
  if (bytes.readUInt32BE(0) !== 0x7f454c46 || bytes.readUInt16LE(18) !== arch.elfMachine) {
    throw new Error(`${source} is not an ELF object for ${arch.rpm}`);
  }
  copyFileSync(source, dest);
  execFileSync(arch.strip, ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', dest]);
  const text = bytes.toString('latin1');
  const glibc = highest(text, 'GLIBC');
  const glibcxx = highest(text, 'GLIBCXX');
  const gcc = highest(text, 'GCC');
  const debDepends: string[] = [];
  if (glibc) debDepends.push(`libc6 (>= ${glibc})`);
  if (gcc) {
    const v = GCC_TO_LIBGCC[gcc];
    if (!v) throw new Error(`the addon needs GCC_${gcc}: add libgcc-s1's version for it`);
    debDepends.push(`libgcc-s1 (>= ${v})`);
  }
  if (glibcxx) {
    const v = GLIBCXX_TO_LIBSTDCXX[glibcxx];
    if (!v) throw new Error(`the addon needs GLIBCXX_${glibcxx}: add libstdc++6's version for it`);
    debDepends.push(`libstdc++6 (>= ${v})`);
  }
  return { file: dest, debDepends };
}
