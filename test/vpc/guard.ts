import { readFileSync, statSync } from 'node:fs';

/** Set by scripts/sandbox.ts to the inode of the network namespace the sandbox was launched from. */
export const SANDBOX_ENV = 'EC2NET_SANDBOX';
/** Mount source of the sandbox's private tmpfs on /run/netns, so the guard can recognise it. */
export const SANDBOX_TMPFS_SOURCE = 'ec2net-sandbox';
export const NETNS_RUN_DIR = '/run/netns';

const HOW = 'run it under `node build/scripts/sandbox.js CMD ARGS...`';

export function netnsInode(): number {
  return statSync('/proc/self/ns/net').ino;
}

interface MountInfo {
  mountPoint: string;
  optional: string[];
  fsType: string;
  source: string;
}

function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    const mountPoint = fields[4];
    const fsType = fields[dash + 1];
    const source = fields[dash + 2];
    if (dash < 6 || mountPoint === undefined || fsType === undefined || source === undefined) continue;
    mounts.push({ mountPoint: unescapeMountField(mountPoint), optional: fields.slice(6, dash), fsType, source });
  }
  return mounts;
}

/**
 * Throws unless this process runs in a sandbox made by scripts/sandbox.ts: a network namespace other than the
 * launcher's, and a tmpfs of our own on /run/netns that receives no mount events from outside (no `master:`),
 * so `ip netns add` can never leave a file on the host.
 */
export function assertSandboxed(): void {
  const launcher = process.env[SANDBOX_ENV];
  if (launcher === undefined || !/^[0-9]+$/.test(launcher)) {
    throw new Error(`refusing to touch networking: ${SANDBOX_ENV} is not set, so this is not the ec2net sandbox; ${HOW}`);
  }
  if (netnsInode() === Number(launcher)) {
    throw new Error(`refusing to touch networking: this process shares the launcher's network namespace; ${HOW}`);
  }
  const mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === NETNS_RUN_DIR);
  const top = mounts.at(-1);
  if (!top || top.fsType !== 'tmpfs' || top.source !== SANDBOX_TMPFS_SOURCE || top.optional.some((o) => o.startsWith('master:'))) {
    throw new Error(`refusing to touch networking: ${NETNS_RUN_DIR} is not the sandbox's private tmpfs; ${HOW}`);
  }
}
