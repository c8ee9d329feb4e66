import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants } from 'node:os';

export const COMMAND_TIMEOUT_MS = 10_000;
export const KILL_GRACE_MS = 2_000;
const POLL_INTERVAL_MS = 20;
const STDIO_DRAIN_MS = 500;

export interface RunOptions {
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code, or 128 + signal number when killed by a signal (137 after a timeout). */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? constants.signals[signal] : 0);
}

/** Runs a command to completion; never throws on a non-zero exit. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('run: empty argv');
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? COMMAND_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}${err.message}\n`, timedOut });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const done = (): void => resolve({ code: exitCode(code, signal), stdout, stderr, timedOut });
      // A daemon the command left behind may hold our pipes open: read what is there, then stop waiting.
      const drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        done();
      }, STDIO_DRAIN_MS);
      child.once('close', () => {
        clearTimeout(drain);
        done();
      });
    });
  });
}

/** Runs a command and throws unless it exits 0; returns its stdout. */
export async function must(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const result = await run(argv, opts);
  if (result.code !== 0) {
    const why = result.timedOut ? 'timed out' : `exited ${result.code}`;
    throw new Error(`${argv.join(' ')} ${why}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** Polls `condition` until it holds; throws after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_INTERVAL_MS);
  }
}

export interface DaemonOptions {
  env?: Record<string, string>;
  onLine?: (line: string) => void;
}

/** A long-running child whose stdout and stderr lines are kept (the tail) for readiness checks and errors. */
export class Daemon {
  private static readonly MAX_LOG_CHARS = 64 * 1024;
  readonly child: ChildProcess;
  readonly pid: number;
  log = '';
  exited = false;
  private readonly exit: Promise<void>;
  private pending = '';

  private constructor(readonly name: string, argv: readonly string[], opts: DaemonOptions) {
    const [file, ...args] = argv;
    if (file === undefined) throw new Error('Daemon: empty argv');
    this.child = spawn(file, args, {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error(`${name}: spawn ${file} failed`);
    this.pid = this.child.pid;
    this.exit = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.once('exit', () => (this.exited = true));
    this.child.on('error', (err) => {
      this.exited = true;
      this.append(`${err.message}\n`, opts.onLine);
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding('utf8').on('data', (d: string) => this.append(d, opts.onLine));
    }
  }

  private append(data: string, onLine?: (line: string) => void): void {
    this.log = (this.log + data).slice(-Daemon.MAX_LOG_CHARS);
    this.pending += data;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    if (onLine) for (const line of lines) onLine(line);
  }

  /** Starts the daemon and waits until `ready` holds, failing early when it exits. */
  static async start(name: string, argv: readonly string[], ready: (d: Daemon) => boolean, timeoutMs: number, opts: DaemonOptions = {}): Promise<Daemon> {
    const daemon = new Daemon(name, argv, opts);
    try {
      await waitFor(`${name} to be ready`, () => {
        if (daemon.exited) throw new Error(`${name} exited during start-up: ${daemon.log.trim()}`);
        return ready(daemon);
      }, timeoutMs);
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    return daemon;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves once the child is reaped. */
  async stop(): Promise<void> {
    if (!this.exited) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS);
      await this.exit;
      clearTimeout(timer);
    }
    await this.exit;
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((e) => /^[0-9]+$/.test(e)).map(Number);
}

export interface ProcStat {
  /** R, S, D, Z, … */
  state: string;
  ppid: number;
}

/** `/proc/PID/stat`, or undefined once the process is gone. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name may contain spaces and parentheses; the fields after its last ')' are plain
  const [state = '', ppid = ''] = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state, ppid: Number(ppid) };
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

export function childrenOf(ppid: number): number[] {
  return allPids().filter((pid) => procStat(pid)?.ppid === ppid);
}

/** Pids of the processes whose network namespace is one of `nsInodes`. */
export function pidsInNetns(nsInodes: ReadonlySet<number>): number[] {
  return allPids().filter((pid) => {
    try {
      return nsInodes.has(statSync(`/proc/${pid}/ns/net`).ino);
    } catch {
      return false; // exited while we looked
    }
  });
}
