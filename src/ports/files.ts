/**
 * The single file writer: write a temporary file beside the target, fsync it, rename it over the target, fsync
 * the directory. A reader sees the old file or the new one, never a partial one, even across a crash. A write
 * whose content and mode are already on disk is skipped.
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { asEc2netError } from '../errors.js';
import type { FileSpec } from '../render/files.js';

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** The file's text, or undefined when it does not exist. Any other failure (EACCES, EISDIR) is an error. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined;
    throw asEc2netError(e, 'InvalidArgument', 'cannot read file', { path });
  }
}

async function unchanged(spec: FileSpec): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([readFile(spec.path, 'utf8'), stat(spec.path)]);
    return text === spec.content && (st.mode & 0o7777) === spec.mode;
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

/** Writes atomically; returns false when the file already had this content and mode. */
export async function writeAtomic(spec: FileSpec): Promise<boolean> {
  if (await unchanged(spec)) return false;
  const dir = dirname(spec.path);
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

/** Removes a file; returns false when it was already gone. */
export async function removeFile(path: string): Promise<boolean> {
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
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
