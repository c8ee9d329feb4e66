/**
 * Writes a layout into a directory, the package's root: files with their modes, man pages gzipped as Debian
 * wants them (-9, no name or time stamp), relative symlinks, and every mtime set to the build's time stamp so
 * that two builds of one commit are the same.
 */
import { chmod, copyFile, lstat, lutimes, mkdir, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import type { Entry } from './layout.js';

export async function stage(root: string, entries: readonly Entry[], mtime: Date): Promise<void> {
  for (const e of entries) {
    const dest = `${root}${e.path}`;
    await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
    if (e.type === 'symlink') {
      await symlink(e.target, dest);
      continue;
    }
    if (e.type === 'content') await writeFile(dest, e.content);
    else if (e.gzip) await writeFile(dest, gzipSync(await readFile(e.source), { level: constants.Z_BEST_COMPRESSION }));
    else await copyFile(e.source, dest);
    await chmod(dest, e.mode);
  }
  await settle(root, mtime);
}

/** Directories 0755 and every mtime the build's, depth first so that a directory's own time is set last. */
async function settle(dir: string, mtime: Date): Promise<void> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = `${dir}/${d.name}`;
    if (d.isDirectory()) await settle(p, mtime);
    else if (d.isSymbolicLink()) await lutimes(p, mtime, mtime);
    else await utimes(p, mtime, mtime);
  }
  if ((await lstat(dir)).isDirectory()) {
    await chmod(dir, 0o755);
    await utimes(dir, mtime, mtime);
  }
}

/** Every path under root, relative with a leading '/', sorted: what the package's file list must be. */
export async function walk(root: string, dir = ''): Promise<{ path: string; kind: 'dir' | 'file' | 'symlink'; size: number }[]> {
  const out: { path: string; kind: 'dir' | 'file' | 'symlink'; size: number }[] = [];
  for (const d of (await readdir(`${root}${dir}`, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = `${dir}/${d.name}`;
    if (d.isDirectory()) {
      out.push({ path: p, kind: 'dir', size: 0 });
      out.push(...(await walk(root, p)));
    } else {
      out.push({ path: p, kind: d.isSymbolicLink() ? 'symlink' : 'file', size: d.isSymbolicLink() ? 0 : (await lstat(`${root}${p}`)).size });
    }
  }
  return out;
}
