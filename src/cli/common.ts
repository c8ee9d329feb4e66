/**
 * The edge shared by every command: arguments, the root check, assembling the context, and mapping error kinds
 * to exit codes (the error's kind decides: errors.ts). Nothing below the entry points decides an exit code.
 */
import { parseArgs } from 'node:util';
import type { AgentContext } from '../agent/context.js';
import { parseConfig, pathsFor } from '../config.js';
import { EXIT_OK, Ec2netError, toEc2netError } from '../errors.js';
import { DEFAULT_ENDPOINTS, ImdsClient } from '../imds/client.js';
import { createLogger, detectLogFormat, isLogFormat, isLogLevel, LOG_FORMATS, LOG_LEVELS, type Logger } from '../log.js';
import { parseIfname } from '../model/validate.js';
import { openBackend } from '../backends/select.js';
import { CHECKOUT_DHCLIENT_SCRIPT } from '../ports/activation.js';
import { readText } from '../ports/files.js';
import { OVERFLOW_AFTER_MS, httpTransport, systemClock } from '../ports/http.js';
import { NetlinkKernel } from '../ports/netlink-kernel.js';
import { VERSION } from '../version.js';
import { helpEpilogue } from './help.js';

export { EXIT_OK, EXIT_USAGE } from '../errors.js';

export interface Command {
  readonly name: string;
  readonly usage: string;
  /** How many interface names the command takes. */
  readonly ifaces: 0 | 1;
  readonly flags?: Record<string, { type: 'boolean' }>;
  /** The daemon: a request that waits for a busy IMDS connection opens one of its own after a while (see Pool). */
  readonly longRunning?: boolean;
  /**
   * Changes nothing (status, plan): runs without root, and says what it could not read. Reading rules, routes,
   * addresses and links over rtnetlink needs no privilege; /run/ec2net is root's.
   */
  readonly readOnly?: boolean;
  /** EC2NET_* variables this command reads beyond every command's (help.ts, ENVIRONMENT), for --help. */
  readonly environment?: Readonly<Record<string, string>>;
  run(ctx: AgentContext, args: { iface?: string; flags: Record<string, boolean> }): Promise<number>;
}

function usage(message: string): Ec2netError {
  return new Ec2netError('Usage', message);
}

function imdsEndpoints(env: NodeJS.ProcessEnv): readonly string[] {
  const override = env.EC2NET_IMDS_URL;
  if (override === undefined || override === '') return DEFAULT_ENDPOINTS;
  if (!/^http:\/\/(?:[0-9.]+|\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?\/?$/.test(override)) {
    throw usage('EC2NET_IMDS_URL must be http://HOST[:PORT]');
  }
  // The IPv6 endpoint stays as the fallback, as on Nitro instances with IPv6 IMDS enabled.
  return [override.replace(/\/$/, ''), DEFAULT_ENDPOINTS[1]];
}

/** IMDS connections a command or the daemon holds at most, whatever the endpoint and local address (see Pool). */
const IMDS_CONNECTIONS = 4;

async function buildContext(root: string, log: Logger, env: NodeJS.ProcessEnv, longRunning: boolean): Promise<AgentContext> {
  const paths = pathsFor(root);
  const config = parseConfig(await readText(paths.configFile), paths.configFile);
  const endpoints = imdsEndpoints(env);
  const backend = await openBackend(paths, config, env.EC2NET_DHCLIENT_SCRIPT || CHECKOUT_DHCLIENT_SCRIPT);
  const kernel = new NetlinkKernel();
  const http = httpTransport({ keepAlive: true, maxConnections: IMDS_CONNECTIONS, ...(longRunning ? { overflowAfterMs: OVERFLOW_AFTER_MS } : {}) });
  const transport = http.transport;
  return {
    paths,
    config,
    kernel,
    clock: systemClock,
    log,
    backend,
    imds: (localAddress) =>
      new ImdsClient({ transport, clock: systemClock, endpoints, ...(localAddress ? { localAddress } : {}) }),
    close() {
      kernel.close();
      log.debug({ imdsConnectionsPeak: http.peakConnections() }, 'closing');
      http.destroy();
    },
  };
}

export async function main(cmd: Command, argv = process.argv.slice(2), env = process.env): Promise<number> {
  let log: Logger | undefined;
  let ctx: AgentContext | undefined;
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          help: { type: 'boolean', short: 'h' },
          version: { type: 'boolean' },
          verbose: { type: 'boolean', short: 'v' },
          root: { type: 'string' },
          ...(cmd.flags ?? {}),
        },
      });
    } catch (e) {
      throw usage(e instanceof Error ? e.message : String(e));
    }
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(`${cmd.usage}\n${helpEpilogue(cmd.name.split(' ')[0] as string, cmd.environment)}\n`);
      return EXIT_OK;
    }
    if (values.version) {
      process.stdout.write(`${cmd.name} ${VERSION}\n`);
      return EXIT_OK;
    }
    if (positionals.length !== cmd.ifaces) {
      throw usage(cmd.ifaces === 1 ? 'expected exactly one interface name' : 'expected no arguments');
    }
    const iface = positionals[0];
    if (iface !== undefined && !parseIfname(iface)) {
      throw usage(`invalid interface name ${JSON.stringify(iface.slice(0, 32))}`);
    }
    const root = (values.root as string | undefined) ?? env.EC2NET_ROOT ?? '/';
    if (!root.startsWith('/')) throw usage('--root and EC2NET_ROOT must be absolute paths');
    const level = values.verbose ? 'debug' : env.EC2NET_LOG_LEVEL || 'info';
    if (!isLogLevel(level)) throw usage(`EC2NET_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
    const format = env.EC2NET_LOG_FORMAT || detectLogFormat(env);
    if (!isLogFormat(format)) throw usage(`EC2NET_LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}`);
    log = createLogger(cmd.name, { level, format });
    if (!cmd.readOnly && typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Ec2netError('PermissionDenied', 'must run as root (it changes routing rules, routes and addresses)');
    }
    ctx = await buildContext(root, log, env, cmd.longRunning ?? false);
    const flags = Object.fromEntries(Object.keys(cmd.flags ?? {}).map((k) => [k, Boolean((values as Record<string, unknown>)[k])]));
    return await cmd.run(ctx, { ...(iface !== undefined ? { iface } : {}), flags });
  } catch (e) {
    const err = toEc2netError(e);
    if (err.kind === 'Usage') process.stderr.write(`${cmd.name}: ${err.message}\n${cmd.usage}\n`);
    else (log ?? createLogger(cmd.name)).error({ kind: err.kind, ...err.fields }, err.message);
    return err.exitCode;
  } finally {
    ctx?.close();
  }
}

/** Runs a command as the process's entry point and exits with its code. */
export function runMain(cmd: Command): void {
  void main(cmd).then((code) => {
    process.exitCode = code;
  });
}
