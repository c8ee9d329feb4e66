/**
 * Per-interface mutual exclusion between every ec2net process on the machine. The lock is an abstract-namespace
 * unix socket: binding the name is the lock, and the kernel releases it when the holder exits, however it exits,
 * so a crashed run can never leave a stale lock behind. Abstract sockets live in the network namespace, as the
 * interfaces they guard do.
 */
import { createHash } from 'node:crypto';
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
  return root === '' ? name : `${createHash('sha256').update(root).digest('hex').slice(0, 16)}/${name}`;
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
