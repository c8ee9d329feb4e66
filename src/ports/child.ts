/**
 * Runs a program to its end over node:child_process: the exit status, the signal that ended it, and what it wrote
 * to stdout and stderr as one text (in the order it came, capped). Stdin is /dev/null. The bound ends it with
 * SIGTERM, and with SIGKILL if it is still there KILL_AFTER_MS later.
 *
 * Not execa: loading it took 170 ms of a command's start (the checkout; ~110 ms of the daemon's first hotplug,
 * bundled and without the JIT), more than the rest of an ec2ifup, for what this file does.
 */
import { spawn } from 'node:child_process';

export interface ChildResult {
  /** undefined when a signal ended it, or it never started. */
  readonly exitCode?: number;
  readonly signal?: NodeJS.Signals;
  readonly timedOut: boolean;
  /** stdout and stderr together, at most OUTPUT_CAP characters (the end is kept). */
  readonly output: string;
  /** Why it could not be started (ENOENT, EACCES). */
  readonly startError?: string;
}

const OUTPUT_CAP = 16 * 1024;
const KILL_AFTER_MS = 5_000;
/**
 * After the program exits, how long its output pipes may stay open: a program that daemonizes (dhclient -nw)
 * hands them to its background half, which closes them as it detaches; one that keeps them is not waited for.
 */
const DRAIN_AFTER_EXIT_MS = 100;

export function runChild(argv: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<ChildResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('runChild: empty argv');
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    let output = '';
    let timedOut = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let startError: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const collect = (chunk: string) => {
      output += chunk;
      if (output.length > 2 * OUTPUT_CAP) output = output.slice(-OUTPUT_CAP);
    };
    child.stdout?.setEncoding('utf8').on('data', collect);
    child.stderr?.setEncoding('utf8').on('data', collect);
    const bound = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    }, timeoutMs);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(bound);
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        ...(exited?.code !== null && exited?.code !== undefined ? { exitCode: exited.code } : {}),
        ...(exited?.signal ? { signal: exited.signal } : {}),
        timedOut,
        output: output.slice(-OUTPUT_CAP),
        ...(startError ? { startError } : {}),
      });
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      startError = e.code ?? e.message;
      finish();
    });
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      drainTimer = setTimeout(finish, DRAIN_AFTER_EXIT_MS);
    });
    child.once('close', finish);
  });
}
