/**
 * The one error type of ec2net. `kind` is a closed set, and what a failure means follows from it: whether trying
 * again can succeed (`retryable`) and the exit status a command ends with (`exitCode`). Nothing else decides them.
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
  | 'PermissionDenied'
  | 'Bug';

/** Kinds after which the same run, tried again shortly, can succeed: nothing about the input has to change. */
const RETRYABLE: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['Transient', 'Unreachable', 'Busy', 'Conflict', 'VerificationError', 'PluginFailure', 'NotAnEni']);

/** DESIGN.md, "Exit codes": 0 converged, 1 failed, 2 usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

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
    return RETRYABLE.has(this.kind);
  }

  /** The exit status of a command that ends with this error. */
  get exitCode(): number {
    return this.kind === 'Usage' ? EXIT_USAGE : EXIT_FAILED;
  }
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
