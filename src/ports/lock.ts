/**
 * Per-interface mutual exclusion between every ec2net process on the machine. A lock is a listening unix stream
 * socket at `${runDir}/lock/${name}`: whoever's socket sits at that path holds the lock.
 *
 * Not an abstract-namespace socket, as it once was: Node 18 as Debian 12 ships it (18.20.4 on the system libuv
 * 1.44.2) copies a pipe path with strdup/strscpy, so every name starting with NUL became the same empty address
 * and all locks collided (a run holding eth1 then waited its 90 s bound for persistent-names, i.e. for itself).
 * A filesystem path behaves the same on every Node from 18.19 to 22. libuv 1.44 also truncates a path longer than
 * sun_path silently, so a longer one is refused here, before any bind.
 *
 * Taking the lock: listen on a private path in the lock directory, then link(2) the listening socket's file to the
 * lock path and drop the private name. link is atomic and fails with EEXIST when the path exists, so at most one
 * socket ever sits there; the socket is listening before it appears, so a socket at the lock path answers connects
 * for as long as its holder has not released it. (Binding the lock path directly would not do: between bind(2) and
 * listen(2) a connect is refused exactly as by a dead holder's file, and a stale-lock recoverer probing in that
 * window would unlink a live lock.) Releasing: unlink the lock path, then close the server.
 *
 * A holder that dies without releasing (SIGKILL, crash, process.exit) leaves its file behind, but its socket is
 * gone with its process (node opens sockets CLOEXEC, so no child such as dhclient keeps it alive), and a connect to
 * the file is refused. So on EEXIST the path is probed with a connect:
 * - it connects, or fails with EAGAIN (a full backlog is a live holder): held; wait with backoff up to the bound;
 * - ENOENT, or ECONNRESET (the holder closed its server with this connect still in its backlog): just released;
 *   retry at once;
 * - ECONNREFUSED: stale. The recoverer takes the guard `${path}.guard` (flock(2), exclusive), probes again, and
 *   only if still refused unlinks the file; then it releases the guard and retries.
 * Why that is safe: nobody but its holder unlinks a live holder's file, since it answers connects until the holder
 * itself unlinks it; a stale file is unlinked by recoverers only, and they are serialised by the guard, so while one
 * holds it the file it found refused cannot be replaced under it, and the next one probes whatever is there now
 * (the first one's live socket, or nothing). A stale file therefore costs one probe and one recovery, never a wait.
 *
 * The guard is flock(1) from util-linux (Essential on Debian, core on RHEL; Node has no flock): the guard file is
 * opened here and handed to `flock -x -w 10 3` as its fd 3. flock(2) locks belong to the open file description,
 * which the child shares with us, so once flock exits 0 this process holds the lock on that descriptor; closing it
 * releases the lock, and so does the kernel if we die. It is held for one connect and one unlink, so its wait
 * bound is never reached by a healthy system; if it is, the lock counts as held for this round.
 *
 * Guard files stay in the lock directory (one small file per name, on /run's tmpfs), as does the private name of a
 * run killed between its listen and its link (a dot and 12 random hex digits; nothing ever looks at it). Private
 * names are random so that libuv's unlink of the name when the server closes, long after it was dropped here,
 * cannot hit another run's.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { link, lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import type { Paths } from '../config.js';
import { Ec2netError, asEc2netError } from '../errors.js';

/** How long a run waits for another run on the same interface before giving up. */
export const LOCK_WAIT_MS = 90_000;
const POLL_MIN_MS = 25;
const POLL_MAX_MS = 500;
/** sun_path is 108 bytes, and a filesystem path needs its terminating NUL in them. */
const SOCKET_PATH_MAX_BYTES = 107;
/** The private name a socket listens on before it is linked to its lock path: a dot and 12 hex digits. */
const PRIVATE_NAME_BYTES = 13;
/** Private names are random; a collision is retried with another this many times. */
const PRIVATE_NAME_TRIES = 8;
/** flock(1)'s wait for the stale-lock guard, in seconds; the guard is held for one connect and one unlink. */
const GUARD_WAIT_S = 10;

export interface Lock {
  release(): Promise<void>;
}

/**
 * The lock's path for one file tree: runs under another EC2NET_ROOT (tests side by side) have their own run
 * directory and so their own locks. `name` is an interface name (validated, no `/`) or a constant such as
 * persistent-names.
 */
export function lockPath(paths: Pick<Paths, 'runDir'>, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new Ec2netError('InvalidArgument', 'not a lock name', { name });
  }
  return `${paths.runDir}/lock/${name}`;
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function portError(e: unknown, message: string, fields: Record<string, unknown>): Ec2netError {
  return asEc2netError(e, code(e) === 'EACCES' || code(e) === 'EPERM' ? 'PermissionDenied' : 'PluginFailure', message, fields);
}

function checkLength(path: string): void {
  const bytes = Math.max(Buffer.byteLength(path, 'utf8'), Buffer.byteLength(dirname(path), 'utf8') + 1 + PRIVATE_NAME_BYTES);
  if (bytes > SOCKET_PATH_MAX_BYTES) {
    throw new Ec2netError('InvalidArgument', `lock path ${path} is longer than a unix socket address allows (${SOCKET_PATH_MAX_BYTES} bytes)`, {
      lock: path,
      bytes,
    });
  }
}

function privatePath(dir: string): string {
  let hex = '';
  while (hex.length < PRIVATE_NAME_BYTES - 1) hex += Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
  return `${dir}/.${hex.slice(0, PRIVATE_NAME_BYTES - 1)}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A listening server on `path`, or undefined when the path is taken. */
function listen(path: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    // A connection is only ever a probe: its having connected is the answer.
    const server = createServer((socket) => socket.destroy());
    server.unref();
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') resolve(undefined);
      else reject(portError(e, 'cannot listen on a lock socket', { path }));
    });
    server.listen({ path, exclusive: true }, () => {
      // From here on an error can only be a failed accept of a probe, which tells the prober nothing it needs.
      server.on('error', () => {});
      resolve(server);
    });
  });
}

/** Takes the lock if nobody's socket is at `path`: returns the server and its inode, or undefined. */
async function tryTake(path: string): Promise<{ server: Server; ino: number; dev: number } | undefined> {
  const dir = dirname(path);
  for (let attempt = 0; attempt < PRIVATE_NAME_TRIES; attempt++) {
    const own = privatePath(dir);
    const server = await listen(own);
    if (!server) continue;
    let id: { ino: number; dev: number };
    try {
      const { ino, dev } = await lstat(own);
      id = { ino, dev };
      await link(own, path);
    } catch (e) {
      await closeServer(server); // libuv unlinks the private name
      if (code(e) === 'EEXIST') return undefined;
      throw portError(e, 'cannot take lock', { lock: path });
    }
    // The lock is ours from the link on; the private name is only litter now (and libuv unlinks it on close too).
    await unlink(own).catch(() => {});
    return { server, ...id };
  }
  throw new Ec2netError('PluginFailure', 'no free private socket name in the lock directory', { lock: path, tries: PRIVATE_NAME_TRIES });
}

type Probe = 'held' | 'stale' | 'released';

function probe(path: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve('held');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      socket.destroy();
      if (e.code === 'EAGAIN') resolve('held');
      else if (e.code === 'ECONNREFUSED') resolve('stale');
      // ECONNRESET: the holder closed its server while this connect sat in its backlog, i.e. it just released.
      else if (e.code === 'ENOENT' || e.code === 'ECONNRESET') resolve('released');
      else reject(portError(e, 'cannot probe lock', { lock: path }));
    });
  });
}

/** Waits for flock(2) on `fd` through flock(1): true once held, false when its wait bound passed. */
function flockFd(fd: number, guard: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['-x', '-w', String(GUARD_WAIT_S), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', (e) => reject(asEc2netError(e, 'PluginFailure', 'cannot run flock(1) for the lock guard', { guard })));
    child.once('close', (status, signal) => {
      if (status === 0) resolve(true);
      else if (status === 1) resolve(false);
      else reject(new Ec2netError('PluginFailure', 'flock(1) failed on the lock guard', { guard, status, signal, stderr: stderr.trim() }));
    });
  });
}

/** Under the guard, unlinks `path` if it is still stale. 'held' also when the guard could not be had in time. */
async function recoverStale(path: string): Promise<Exclude<Probe, 'stale'>> {
  const guard = `${path}.guard`;
  let fd: number;
  try {
    fd = openSync(guard, 'a', 0o600);
  } catch (e) {
    throw portError(e, 'cannot open lock guard', { guard });
  }
  try {
    if (!(await flockFd(fd, guard))) return 'held';
    const state = await probe(path);
    if (state !== 'stale') return state;
    try {
      await unlink(path);
    } catch (e) {
      if (code(e) !== 'ENOENT') throw portError(e, 'cannot remove stale lock', { lock: path });
    }
    return 'released';
  } finally {
    closeSync(fd);
  }
}

/** Unlinks `path` if it is still the file of the socket that took the lock (it is unless someone tampered). */
async function unlinkOwn(path: string, ino: number, dev: number): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.ino === ino && st.dev === dev) await unlink(path);
  } catch (e) {
    if (code(e) !== 'ENOENT') throw portError(e, 'cannot release lock', { lock: path });
  }
}

/** Takes the lock at `path` (see lockPath), waiting for another holder up to `waitMs`, then failing as Busy. */
export async function acquireLock(
  path: string,
  sleep: (ms: number) => Promise<void>,
  now: () => number,
  waitMs = LOCK_WAIT_MS,
): Promise<Lock> {
  checkLength(path);
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw portError(e, 'cannot create lock directory', { lock: path });
  }
  const deadline = now() + waitMs;
  let pause = POLL_MIN_MS;
  for (;;) {
    const taken = await tryTake(path);
    if (taken) {
      let released: Promise<void> | undefined;
      const { server, ino, dev } = taken;
      return {
        release: () => (released ??= unlinkOwn(path, ino, dev).finally(() => closeServer(server))),
      };
    }
    let state = await probe(path);
    if (state === 'stale') state = await recoverStale(path);
    if (state === 'released') continue;
    if (now() >= deadline) {
      throw new Ec2netError('Busy', 'another ec2net run holds this interface', { lock: path, waitedMs: waitMs });
    }
    await sleep(pause);
    pause = Math.min(POLL_MAX_MS, pause * 2);
  }
}
