/**
 * node build/scripts/sandbox.js CMD ARGS...
 *
 * Runs CMD in fresh network, mount, pid and UTS namespaces with a private tmpfs on /run/netns, so nothing CMD does to
 * networking reaches the machine. TMPDIR is a tmpfs private to the sandbox as well: whatever CMD leaves there is
 * gone with the sandbox, even when it is killed. CMD's exit code is ours; SIGINT/SIGTERM are forwarded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NETNS_RUN_DIR, SANDBOX_ENV, SANDBOX_TMPFS_SOURCE, netnsInode } from '../test/vpc/guard.js';
import { childrenOf } from '../test/vpc/proc.js';

const INNER_FLAG = '--inner';
const SETUP_TIMEOUT_MS = 10_000;
const FORWARDED = ['SIGINT', 'SIGTERM'] as const;

function fail(message: string, code: number): never {
  process.stderr.write(`sandbox: ${message}\n`);
  process.exit(code);
}

function exitLike(child: ChildProcess, cleanUp: () => void = () => {}): void {
  child.on('error', (err) => {
    cleanUp();
    fail(err.message, 127);
  });
  child.on('exit', (code, signal) => {
    cleanUp();
    process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0));
  });
}

function setup(argv: string[]): void {
  const [file, ...args] = argv;
  const result = spawnSync(file ?? '', args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: SETUP_TIMEOUT_MS });
  if (result.status !== 0) fail(`${argv.join(' ')} failed (${result.error?.message ?? `status ${result.status}`})`, 1);
}

function outer(cmd: string[]): void {
  const self = fileURLToPath(import.meta.url);
  const scratch = mkdtempSync(join(tmpdir(), 'ec2net-sandbox-'));
  // setpriv --pdeathsig: if this launcher dies (even by SIGKILL) unshare is killed, and --kill-child takes the
  // namespace's init down with it, which kills every process in the pid namespace.
  const child = spawn(
    'setpriv',
    ['--pdeathsig', 'SIGKILL', '--', 'unshare', '--net', '--mount', '--pid', '--uts', '--fork', '--kill-child', '--mount-proc',
      '--propagation', 'private', '--', process.execPath, self, INNER_FLAG, String(netnsInode()), String(utsInode()), scratch, ...cmd],
    { stdio: 'inherit' },
  );
  for (const signal of FORWARDED) {
    process.on(signal, () => {
      // unshare blocks SIGINT/SIGTERM while it waits for its child, so they go straight to the inner launcher
      for (const inner of child.pid === undefined ? [] : childrenOf(child.pid)) process.kill(inner, signal);
    });
  }
  exitLike(child, () => rmSync(scratch, { recursive: true, force: true }));
}

/** The UTS namespace: a hostname set inside the sandbox (the agent's opt-in hostname) never reaches the machine. */
function utsInode(): number {
  return statSync('/proc/self/ns/uts').ino;
}

function inner(launcherNetns: string, launcherUts: string, scratch: string, cmd: string[]): void {
  if (String(netnsInode()) === launcherNetns) fail('unshare did not create a new network namespace', 1);
  if (String(utsInode()) === launcherUts) fail('unshare did not create a new UTS namespace', 1);
  mkdirSync(NETNS_RUN_DIR, { recursive: true });
  setup(['mount', '-t', 'tmpfs', '-o', 'mode=0755', SANDBOX_TMPFS_SOURCE, NETNS_RUN_DIR]);
  setup(['mount', '-t', 'tmpfs', '-o', 'mode=0700', 'ec2net-sandbox-tmp', scratch]);
  setup(['ip', 'link', 'set', 'lo', 'up']);
  const [file, ...args] = cmd;
  const env = { ...process.env, [SANDBOX_ENV]: launcherNetns, TMPDIR: scratch };
  const child = spawn(file ?? '', args, { stdio: 'inherit', env });
  // As pid 1 of the namespace we get only signals we handle; pass them on.
  for (const signal of FORWARDED) process.on(signal, () => child.kill(signal));
  exitLike(child);
}

const argv = process.argv.slice(2);
if (argv[0] === INNER_FLAG) {
  const [, launcherNetns, launcherUts, scratch, ...cmd] = argv;
  if (launcherNetns === undefined || launcherUts === undefined || scratch === undefined || cmd.length === 0) fail('internal: bad --inner arguments', 2);
  inner(launcherNetns, launcherUts, scratch, cmd);
} else if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
  fail('usage: node build/scripts/sandbox.js CMD ARGS...', 2);
} else {
  outer(argv);
}
