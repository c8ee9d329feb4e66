/**
 * The single file writer: write a temporary file beside the target, fsync it, rename it over the target, fsync
 * the directory. A reader sees the old file or the new one, never a partial one, even across a crash. A write
 * whose content and mode are already on disk is skipped.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Ec2netError, asEc2netError } from '../errors.js';
import type { FileSpec } from '../render/files.js';

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** The file system refused a permission: a run without root, where /run/ec2net is root's (mode 0700). */
function denied(e: unknown): boolean {
  return code(e) === 'EACCES' || code(e) === 'EPERM';
}

/**
 * The names in a directory; [] when it does not exist or is no directory (nothing was ever written there), and
 * PermissionDenied when it cannot be read.
 */
export async function listDir(path: string): Promise<string[]> {
  try {
    return readdirSync(path);
  } catch (e) {
    if (denied(e)) throw asEc2netError(e, 'PermissionDenied', 'cannot list directory', { path });
    return [];
  }
}

/** Files ec2net reads are small; anything larger is not one of them. */
const MAX_READ_BYTES = 1 << 20;

/**
 * The file's text, or undefined when it does not exist. Anything that is not a regular file of sane size is an
 * error: reading a FIFO put in a file's place would block forever, and a device or a huge file has no business
 * there. The file is opened non-blocking and checked through the descriptor, so a swap after the check cannot
 * slip one in.
 *
 * Reads are synchronous: the files are a few hundred bytes on a local filesystem, read in tens of microseconds,
 * where the promise API's open/stat/read/close cost four thread-pool round trips each (a quarter of a
 * millisecond per file; the daemon reads one per ENI every refresh round, and each command a handful).
 */
export async function readText(path: string): Promise<string | undefined> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined;
    throw asEc2netError(e, denied(e) ? 'PermissionDenied' : 'InvalidArgument', 'cannot read file', { path });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Ec2netError('InvalidArgument', 'not a regular file', { path });
    if (st.size > MAX_READ_BYTES) throw new Ec2netError('InvalidArgument', 'file is too large', { path, bytes: st.size });
    return readFileSync(fd, 'utf8');
  } catch (e) {
    throw asEc2netError(e, 'InvalidArgument', 'cannot read file', { path });
  } finally {
    closeSync(fd);
  }
}

function unchanged(spec: FileSpec): boolean {
  try {
    const st = statSync(spec.path);
    if (!st.isFile() || st.size !== Buffer.byteLength(spec.content)) return false;
    return (st.mode & 0o7777) === spec.mode && readFileSync(spec.path, 'utf8') === spec.content;
  } catch {
    return false;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

let writes = 0;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return code(e) === 'EPERM';
  }
}

/**
 * A writer killed between creating its temporary file and renaming it leaves the temporary behind; the next
 * write or removal of the same file removes those of writers that are gone (of every file in `dir` when no
 * `base` is given).
 */
export async function sweepTemporaries(dir: string, base?: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^\.(.+)\.ec2net-(\d+)-\d+\.tmp$/.exec(name);
    if (!m || (base !== undefined && m[1] !== base)) continue;
    const pid = Number(m[2]);
    if (pid > 0 && pid !== process.pid && !alive(pid)) await rm(`${dir}/${name}`, { force: true });
  }
}

/** Writes atomically; returns false when the file already had this content and mode. */
export async function writeAtomic(spec: FileSpec): Promise<boolean> {
  const dir = dirname(spec.path);
  await sweepTemporaries(dir, basename(spec.path));
  if (unchanged(spec)) return false;
  // Unique per write: one process may write several files, or the same file from two flows, at once.
  const tmp = `${dir}/.${basename(spec.path)}.ec2net-${process.pid}-${++writes}.tmp`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const handle = await open(tmp, 'w', spec.mode);
    try {
      await handle.writeFile(spec.content, 'utf8');
      await handle.chmod(spec.mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, spec.path);
    await fsyncDir(dir);
    return true;
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw asEc2netError(e, 'PluginFailure', 'cannot write file', { path: spec.path });
  }
}

/** Removes a file (and temporaries of it left by writers that died); returns false when it was already gone. */
export async function removeFile(path: string): Promise<boolean> {
  await sweepTemporaries(dirname(path), basename(path));
  try {
    await unlink(path);
    return true;
  } catch (e) {
    if (code(e) === 'ENOENT') return false;
    throw asEc2netError(e, 'PluginFailure', 'cannot remove file', { path });
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    return statSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}
