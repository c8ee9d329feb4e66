/**
 * The one error type of ec2net. `kind` is a closed set, and what a failure means follows from it: whether trying
 * again can succeed (`retryable`) and the exit status a command ends with (`exitCode`), both from the one table
 * KINDS. Nothing else decides them.
 */
export type ErrorKind =
  /** The command line or the environment: arguments, options, EC2NET_* variables. The command prints its usage. */
  | 'Usage'
  /** Bad input from the admin's files: ec2net.conf, an ifcfg file's flags, udev rules. */
  | 'InvalidArgument'
  /** A value from IMDS failed validation: refused, nothing applied. */
  | 'InvalidMetadata'
  /** IMDS or the kernel did not answer usefully this time; configured state is left as it is. */
  | 'Transient'
  /** An endpoint could not be reached at all (refused, no route, no connection): the next endpoint may answer. */
  | 'Unreachable'
  /** The kernel has no interface of that name (or index). */
  | 'NoSuchInterface'
  /** IMDS does not list the interface's MAC: not an ENI of this instance, or not yet. */
  | 'NotAnEni'
  /** Another run holds the interface and did not release it within the bound. */
  | 'Busy'
  /**
   * What this ENI was planned with belongs to another present ENI (its routing table: IMDS gives both the same
   * device-number while one propagates). Nothing was changed.
   */
  | 'Conflict'
  /** Applied, read back, and the kernel does not hold what was planned. */
  | 'VerificationError'
  /** A port (kernel, file system, child process) failed. */
  | 'PluginFailure'
  /** The link is not an Ethernet device (loopback, a tunnel): no ENI ever is one. */
  | 'NotEthernet'
  | 'PermissionDenied'
  /** Anything ec2net did not expect: an error that is not one of the above, a broken invariant. */
  | 'Bug';

/** What a kind means to whoever runs a command: whether a retry can help, and its exit status. */
export interface KindFacts {
  /** Trying the same run again shortly can succeed: nothing about the input has to change. */
  readonly retryable: boolean;
  /** The exit status of a command that ends with this kind. */
  readonly exit: number;
  /** What happened, in a few words: --help prints it beside the code (the man pages say more). */
  readonly means: string;
}

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;

/**
 * The one table of kinds and exit codes. The codes are an interface (scripts and systemd units test them): a
 * code is never renumbered, and a new kind gets a new code. 1 is node's own status for a crash, so it is the
 * Bug's; the kinds after which a retry can help are 20-29 ("retry later"), the others 30-39 ("will not work until
 * something changes"). Node's own statuses (1-13, 128 + signal) and systemd's (200-243) stay clear.
 */
export const KINDS: Readonly<Record<ErrorKind, KindFacts>> = {
  Bug: { retryable: false, exit: 1, means: 'internal error: report it with the log line' },
  Usage: { retryable: false, exit: EXIT_USAGE, means: 'wrong command line or EC2NET_* variable' },
  Transient: { retryable: true, exit: 20, means: 'IMDS or the kernel did not answer usefully this time' },
  Unreachable: { retryable: true, exit: 21, means: 'IMDS could not be reached at all' },
  NotAnEni: { retryable: true, exit: 22, means: 'IMDS does not list the MAC (not an ENI, or not yet)' },
  Busy: { retryable: true, exit: 23, means: 'another run holds the interface' },
  Conflict: { retryable: true, exit: 24, means: "IMDS gives it another ENI's device-number (propagating)" },
  VerificationError: { retryable: true, exit: 25, means: 'the kernel does not hold what was applied' },
  PluginFailure: { retryable: true, exit: 26, means: 'a file write, netlink request or child process failed' },
  InvalidArgument: { retryable: false, exit: 30, means: "invalid ec2net.conf, ifcfg flag or other admin's file" },
  InvalidMetadata: { retryable: false, exit: 31, means: 'IMDS sent a value that failed validation' },
  NoSuchInterface: { retryable: false, exit: 32, means: 'no interface of that name' },
  NotEthernet: { retryable: false, exit: 33, means: 'not an Ethernet link (loopback, tunnel): never an ENI' },
  PermissionDenied: { retryable: false, exit: 34, means: 'needs root' },
};

export class Ec2netError extends Error {
  readonly kind: ErrorKind;
  /** Structured context for the log line (iface, mac, key, table, ...). */
  readonly fields: Readonly<Record<string, unknown>>;

  constructor(kind: ErrorKind, message: string, fields: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Ec2netError';
    this.kind = kind;
    this.fields = fields;
  }

  /**
   * Trying again shortly can succeed. Not for input that must change first (a refused IMDS value, a bad config
   * file, usage), a missing interface, a permission, or a bug.
   */
  get retryable(): boolean {
    return KINDS[this.kind].retryable;
  }

  /** The exit status of a command that ends with this error. */
  get exitCode(): number {
    return KINDS[this.kind].exit;
  }
}

/**
 * The exit status of a run that ended with several errors (ec2ifscan, one per interface): that of the first a
 * retry cannot help, else of the first; EXIT_OK when there are none. A script that retries on 20-29 then retries
 * only when every failure can pass.
 */
export function exitCodeOf(errors: readonly unknown[]): number {
  const all = errors.map(toEc2netError);
  return (all.find((e) => !e.retryable) ?? all[0])?.exitCode ?? EXIT_OK;
}

export function isEc2netError(e: unknown, kind?: ErrorKind): e is Ec2netError {
  return e instanceof Ec2netError && (kind === undefined || e.kind === kind);
}

/** Wraps anything thrown by a port into an Ec2netError, keeping the original as `cause`. */
export function asEc2netError(e: unknown, kind: ErrorKind, message: string, fields: Record<string, unknown> = {}): Ec2netError {
  if (e instanceof Ec2netError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  return new Ec2netError(kind, `${message}: ${detail}`, fields, { cause: e });
}

/** Anything thrown, as an Ec2netError: what is not one already is a Bug. */
export function toEc2netError(e: unknown): Ec2netError {
  return e instanceof Ec2netError ? e : new Ec2netError('Bug', e instanceof Error ? e.message : String(e), {}, { cause: e });
}
