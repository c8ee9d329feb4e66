/**
 * Which backend this system gets: the one BACKEND in ec2net.conf names, else the detected one.
 */
import type { BackendKind, BackendMode, Config, Paths } from '../config.js';
import { chooseActivator, networkctlActivator, nmcliActivator } from '../ports/activation.js';
import { exists } from '../ports/files.js';
import type { Backend } from './backend.js';
import { ifcfgBackend } from './ifcfg.js';
import { networkdBackend } from './networkd.js';
import { nmBackend } from './nm.js';

/**
 * networkd writes its runtime state file once it runs (netplan with the networkd renderer is networkd too);
 * NetworkManager makes /run/NetworkManager/devices when it starts (RHEL and Fedora run it, networkd not);
 * otherwise the ifcfg backend, activated by initscripts' ifup where it is installed, else by dhclient.
 */
export async function detectBackend(paths: Paths, mode: BackendMode): Promise<BackendKind> {
  if (mode !== 'auto') return mode;
  if (await exists(`${paths.networkdState}/state`)) return 'networkd';
  return (await exists(paths.networkManagerDevices)) ? 'nm' : 'ifcfg';
}

/** The detected (or configured) backend, with the activator it needs. */
export async function openBackend(paths: Paths, config: Config, dhclientScript: string): Promise<Backend> {
  const kind = await detectBackend(paths, config.backend);
  if (kind === 'networkd') return networkdBackend(paths, config, networkctlActivator());
  if (kind === 'nm') return nmBackend(paths, config, nmcliActivator(paths));
  return ifcfgBackend(paths, config, await chooseActivator(config.activation, paths, dhclientScript));
}
