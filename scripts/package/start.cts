#!/usr/bin/node
/**
 * /usr/libexec/ec2net/start.cjs: what the commands on PATH run. It runs the bundle beside it (ec2net.cjs) compiled
 * from V8's code cache of that bundle when the cache directory holds one, and leaves one there at exit when it had
 * none. Compiling the 430 KB bundle and then each function it calls was a sixth of a command's run beyond node's
 * own start (README, "Performance"); node 22 has this built in (module.enableCompileCache), the node versions
 * ec2net supports (18.19, 20) do not.
 *
 * A cache is only ever used for the very bundle it was made from, by the node that made it: its file name holds
 * the bundle's id (a hash of its content, written into its second line when it was built), the bundle file's size
 * and modification time (an edit in place that keeps the id line), node's version and the architecture, and V8
 * refuses data of another V8 or of other flags. Writing a cache removes those of earlier bundles and nodes. Code cache data is code: a file is used only
 * when it is a regular file owned by the user running the command, in a directory owned by that user, neither
 * writable by anyone else, and is written only into such a directory; the directory is made 0700, files 0600. Any failure to read or write the cache only
 * means compiling as without it. The directory is /var/cache/ec2net, under EC2NET_ROOT when that is set;
 * EC2NET_CACHE_DIR names another.
 *
 * CommonJS source (.cts), compiled by tsc to build/scripts/package/start.cjs and shipped as it is.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module = require('node:module');
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

const BUNDLE = join(__dirname, 'ec2net.cjs');
// Under EC2NET_ROOT, as every other file the agent writes (DESIGN.md); EC2NET_CACHE_DIR names it outright.
const CACHE_DIR = process.env.EC2NET_CACHE_DIR || `${(process.env.EC2NET_ROOT ?? '').replace(/\/+$/, '')}/var/cache/ec2net`;
const MAX_CACHE_BYTES = 64 << 20;

/** The id the bundle carries on its second line (`// ec2net bundle ID`), or undefined. */
function bundleId(source: string): string | undefined {
  return /^#![^\n]*\n\/\/ ec2net bundle ([0-9a-f]{16,64})\n/.exec(source)?.[1];
}

function owned(mode: number, uid: number): boolean {
  return uid === (process.geteuid?.() ?? uid) && (mode & 0o022) === 0;
}

function trustedDir(dir: string): boolean {
  const st = statSync(dir);
  return st.isDirectory() && owned(st.mode, st.uid);
}

function readCache(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    if (!trustedDir(dirname(file))) return undefined;
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || !owned(st.mode, st.uid) || st.size > MAX_CACHE_BYTES) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeCache(file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (!trustedDir(dirname(file))) return;
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
    // Caches of earlier bundles (an upgrade) or nodes are of no further use.
    for (const name of readdirSync(dirname(file))) {
      if (/^ec2net-.*\.v8$/.test(name) && name !== basename(file)) rmSync(join(dirname(file), name), { force: true });
    }
  } catch {
    // A read-only or missing cache directory, a full disk: the next run compiles again.
    rmSync(tmp, { force: true });
  }
}

const fd = openSync(BUNDLE, constants.O_RDONLY);
const { size, mtimeMs } = fstatSync(fd);
const source = readFileSync(fd, 'utf8');
closeSync(fd);
const id = bundleId(source);
const key = `${id}-${size}-${Math.trunc(mtimeMs)}-${process.version}-${process.arch}`;
const file = id === undefined ? undefined : join(CACHE_DIR, `ec2net-${key}.v8`);
const cached = file === undefined ? undefined : readCache(file);
// The shebang line becomes a blank one: line numbers in stack traces stay the bundle's.
const script = new Script(Module.wrap(source.replace(/^#![^\n]*/, '')), { filename: BUNDLE, ...(cached ? { cachedData: cached } : {}) });
if (file !== undefined && (cached === undefined || script.cachedDataRejected === true)) {
  // At exit the data holds every function this run compiled, not only the top level.
  process.once('exit', () => writeCache(file, script.createCachedData()));
}
const bundleModule = new Module(BUNDLE, module);
bundleModule.filename = BUNDLE;
(script.runInThisContext() as (...args: unknown[]) => void).call(bundleModule.exports, bundleModule.exports, Module.createRequire(BUNDLE), bundleModule, BUNDLE, dirname(BUNDLE));
