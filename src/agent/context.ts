/**
 * What every flow needs, assembled once by the entry point. Flows receive it; they never reach for globals.
 */
import type { Config, Paths } from '../config.js';
import type { ImdsClient, ImdsClock } from '../imds/client.js';
import type { Logger } from '../log.js';
import type { KernelPort } from '../ports/kernel.js';
import type { Backend } from '../backends/backend.js';

export interface AgentContext {
  readonly paths: Paths;
  readonly config: Config;
  readonly kernel: KernelPort;
  readonly clock: ImdsClock;
  readonly log: Logger;
  /** The network manager's OS config and activation: detected at start, or BACKEND in ec2net.conf. */
  readonly backend: Backend;
  /** An IMDS client whose requests leave from `localAddress` when one is given. */
  imds(localAddress?: string): ImdsClient;
  /** Releases the kernel socket and any kept-alive connections. */
  close(): void;
}
