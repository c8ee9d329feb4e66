/**
 * A stock Debian 12 system booted with systemd as PID 1 (systemd-nspawn) whose network is the simulated VPC's
 * instance namespace: the package is tested as it is installed and run, by its distribution's systemd, with the
 * distribution's own node, against the VPC's IMDS, DHCP and source/destination check.
 *
 * The root file system is scripts/debian-rootfs.sh's cached debootstrap tree, booted through an overlay whose
 * upper layer lives in the sandbox's TMPDIR: the cache is never written. The container has no network of its own:
 * it joins the VPC's instance namespace (--network-namespace-path), and booting refuses anything else.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSandboxed, NETNS_RUN_DIR } from './guard.js';
import { must, run, waitFor, type RunOptions, type RunResult } from './proc.js';
import type { Vpc } from './vpc.js';

/** scripts/debian-rootfs.sh's tree. */
export const ROOTFS = `${process.env.EC2NET_ROOTFS_CACHE ?? '/var/cache/ec2net-test'}/debian12-rootfs`;
const LEADER_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 30_000;
const EXEC_TIMEOUT_MS = 120_000;
/** What a login shell on Debian has; the container's commands get nothing else of this process's environment. */
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ContainerOptions {
  /** A node binary put over the system's /usr/bin/node (read-only bind mount); the distribution's own otherwise. */
  readonly node?: string;
  /** Files copied into the root before boot: container path → host path. */
  readonly files?: Readonly<Record<string, string>>;
  /** Commands run in the root before boot, with no network and no systemd running (as in an image build). */
  readonly prepare?: readonly (readonly string[])[];
}

function pidsOf(parent: number): number[] {
  try {
    return readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter((p) => p !== '').map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** systemd-nspawn --boot, running until the container powers off; its output (the boot's console) is kept. */
function runDetached(argv: readonly string[]): { pid: number; exited: Promise<RunResult>; output: () => string } {
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<RunResult>((resolve) => {
    child.on('error', (err) => resolve({ code: 127, stdout: output, stderr: err.message, timedOut: false }));
    child.on('exit', (code, signal) => resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0), stdout: output, stderr: '', timedOut: false }));
  });
  return { pid: child.pid ?? -1, exited, output: () => output };
}

/**
 * A writable copy of the cached Debian 12 tree for one test: an overlay whose upper layer lives in the sandbox's
 * TMPDIR, mounted in the sandbox's own mount namespace. `release` unmounts and removes it.
 */
export async function scratchRootfs(): Promise<{ root: string; release: () => Promise<void> }> {
  assertSandboxed();
  if (!existsSync(`${ROOTFS}/.ec2net-rootfs`)) throw new Error(`no Debian 12 root file system at ${ROOTFS}: run scripts/install-deps.sh (scripts/debian-rootfs.sh)`);
  const scratch = mkdtempSync(join(tmpdir(), 'ec2net-rootfs-'));
  const root = join(scratch, 'root');
  for (const d of ['upper', 'work', 'root']) mkdirSync(join(scratch, d));
  await must(['mount', '-t', 'overlay', 'ec2net-rootfs', '-o', `lowerdir=${ROOTFS},upperdir=${scratch}/upper,workdir=${scratch}/work`, root]);
  return {
    root,
    async release() {
      await run(['umount', '-l', root]);
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

export class Container {
  private constructor(
    private readonly release: () => Promise<void>,
    private readonly process_: { pid: number; exited: Promise<RunResult>; output: () => string },
    readonly leader: number,
    /** What each `prepare` command printed. */
    readonly prepared: readonly string[],
  ) {}

  /** Boots the tree in `vpc`'s instance namespace; resolves once systemd runs as the container's PID 1. */
  static async boot(vpc: Vpc, opts: ContainerOptions = {}): Promise<Container> {
    const netns = join(NETNS_RUN_DIR, vpc.instanceNs);
    const { root, release } = await scratchRootfs();
    try {
      for (const [inside, outside] of Object.entries(opts.files ?? {})) await must(['cp', outside, `${root}${inside}`]);
      // CAP_NET_ADMIN: nspawn keeps it only for a network of the container's own, and the agent's units need it.
      const common = ['systemd-nspawn', '--quiet', '--register=no', '--keep-unit', '--capability=CAP_NET_ADMIN', `--directory=${root}`,
        ...(opts.node ? [`--bind-ro=${opts.node}:/usr/bin/node`] : [])];
      const prepared: string[] = [];
      for (const argv of opts.prepare ?? []) {
        const r = await run([...common, '--private-network', '--', ...argv], { timeoutMs: EXEC_TIMEOUT_MS });
        if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
        prepared.push(`${r.stdout}${r.stderr}`);
      }
      // --console=pipe: the boot's console output is this process's to read; nothing waits on a terminal.
      const booted = runDetached([...common, `--network-namespace-path=${netns}`, '--boot', '--console=pipe']);
      let leader: number | undefined;
      await waitFor('systemd to start as the container\'s PID 1', () => {
        leader = pidsOf(booted.pid).find((p) => comm(p) === 'systemd');
        return leader !== undefined;
      }, LEADER_TIMEOUT_MS).catch(async (err: Error) => {
        process.kill(booted.pid, 'SIGKILL');
        await booted.exited;
        throw new Error(`${err.message}\n${booted.output().slice(-3000)}`);
      });
      const container = new Container(release, booted, leader as number, prepared);
      // The guard of this file's own: a container whose network is anything but the VPC's instance namespace is
      // stopped at once (it would run DHCP and IMDS requests on a network that is not ours).
      if (statSync(`/proc/${leader}/ns/net`).ino !== statSync(netns).ino) {
        await container.stop();
        throw new Error('refusing to run: the container is not in the simulated VPC\'s instance namespace');
      }
      return container;
    } catch (err) {
      await release();
      throw err;
    }
  }

  /** Runs argv in the container (all its namespaces), with a clean environment plus `opts.env`. */
  exec(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const env = Object.entries({ PATH, LANG: 'C.UTF-8', ...(opts.env ?? {}) }).map(([k, v]) => `${k}=${v}`);
    return run(['nsenter', '--target', String(this.leader), '--all', '--', 'env', '-i', ...env, ...argv], {
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      timeoutMs: opts.timeoutMs ?? EXEC_TIMEOUT_MS,
    });
  }

  /** Runs argv in the container and throws unless it exits 0; returns stdout. */
  async must(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** One property of a unit (`systemctl show -P`). */
  async unitProperty(unit: string, property: string): Promise<string> {
    return (await this.must(['systemctl', 'show', '-P', property, unit])).trim();
  }

  /** The container's journal for a unit, message text only, optionally from a priority up (journalctl -p). */
  async journal(unit: string, priority?: string): Promise<string> {
    return this.must(['journalctl', '--no-pager', '-o', 'cat', '-u', unit, ...(priority ? ['-p', priority] : [])]);
  }

  /** What the container printed on its console so far (systemd's boot messages), for a failure's message. */
  console(): string {
    return this.process_.output();
  }

  /** Powers the container off (its systemd stops every unit), killing it when that takes too long. */
  async stop(): Promise<void> {
    await this.exec(['systemctl', 'poweroff'], { timeoutMs: 10_000 });
    const done = await Promise.race([this.process_.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_TIMEOUT_MS))]);
    if (!done) {
      for (const pid of [this.leader, this.process_.pid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await this.process_.exited;
    }
    await this.release();
  }
}
