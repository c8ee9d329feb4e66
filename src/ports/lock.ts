/**
 * Per-interface mutual exclusion between every ec2net process on the machine. The lock is an abstract-namespace
 * unix socket: binding the name is the lock, and the kernel releases it when the holder exits, however it exits,
 * so a crashed run can never leave a stale lock behind. Abstract sockets live in the network namespace, as the
 * interfaces they guard do.
 */
import { createServer, type Server } from 'node:net';
import { Ec2netError } from '../errors.js';

/** How long a run waits for another run on the same interface before giving up. */
export const LOCK_WAIT_MS = 90_000;
const POLL_MIN_MS = 25;
const POLL_MAX_MS = 500;

export interface Lock {
  release(): Promise<void>;
}

/**
 * The lock's name for one file tree: runs under another EC2NET_ROOT (tests side by side in one namespace) keep
 * their own locks. The root is hashed: an abstract socket name is capped at 107 bytes.
 */
export function lockName(root: string, name: string): string {
  return root === '' ? name : `${fnv1a64(root)}/${name}`;
}

/**
 * FNV-1a, 64 bits, as 16 hex digits: only tells roots apart (nothing secret rides on it), and spares every command
 * loading node:crypto to do so.
 */
function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return hash.toString(16).padStart(16, '0');
}

function tryBind(name: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(undefined) : reject(e)));
    server.listen({ path: `\0ec2net/${name}`, exclusive: true }, () => resolve(server));
  });
}

export async function acquireLock(
  name: string,
  sleep: (ms: number) => Promise<void>,
  now: () => number,
  waitMs = LOCK_WAIT_MS,
): Promise<Lock> {
  const deadline = now() + waitMs;
  let pause = POLL_MIN_MS;
  for (;;) {
    const server = await tryBind(name);
    if (server) {
      return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    }
    if (now() >= deadline) {
      throw new Ec2netError('Busy', 'another ec2net run holds this interface', { lock: name, waitedMs: waitMs });
    }
    await sleep(pause);
    pause = Math.min(POLL_MAX_MS, pause * 2);
  }
}
