/**
 * The one error type of ec2net. `kind` is a closed set; entry points map kinds to exit codes, nothing else does.
 */
export type ErrorKind =
  /** Bad input from the user: arguments, interface names, config files. */
  | 'InvalidArgument'
  /** A value from IMDS failed validation: refused, nothing applied. */
  | 'InvalidMetadata'
  /** IMDS or the kernel did not answer usefully this time; configured state is left as it is. */
  | 'Transient'
  /** The thing asked for does not exist (an interface, an ENI for a MAC). */
  | 'NotFound'
  /** Another run holds the interface and did not release it within the bound. */
  | 'Busy'
  /** Applied, read back, and the kernel does not hold what was planned. */
  | 'VerificationError'
  /** A port (kernel, file system, child process) failed. */
  | 'PluginFailure'
  | 'PermissionDenied'
  | 'Bug';

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
