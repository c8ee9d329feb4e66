/**
 * Which backend this system gets: the one BACKEND in ec2net.conf names, else the detected one.
 */
import type { BackendKind, BackendMode, Config, Paths } from '../config.js';
import { chooseActivator, networkctlActivator } from '../ports/activation.js';
import { exists } from '../ports/files.js';
import type { Backend } from './backend.js';
import { ifcfgBackend } from './ifcfg.js';
import { networkdBackend } from './networkd.js';

/**
 * networkd writes its runtime state file once it runs (netplan with the networkd renderer is networkd too);
 * otherwise the ifcfg backend, activated by initscripts' ifup where it is installed, else by dhclient.
 */
export async function detectBackend(paths: Paths, mode: BackendMode): Promise<BackendKind> {
  if (mode !== 'auto') return mode;
  return (await exists(`${paths.networkdState}/state`)) ? 'networkd' : 'ifcfg';
}

/** The detected (or configured) backend, with the activator it needs. */
export async function openBackend(paths: Paths, config: Config, dhclientScript: string): Promise<Backend> {
  const kind = await detectBackend(paths, config.backend);
  if (kind === 'networkd') return networkdBackend(paths, config, networkctlActivator());
  return ifcfgBackend(paths, config, await chooseActivator(config.activation, paths, dhclientScript));
}
