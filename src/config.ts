/**
 * Where files live and what the admin configured. `EC2NET_ROOT` prefixes every path under /etc and /run, so tests
 * and packaging never touch the host's files. Reading the environment happens here and in the entry points only.
 */
import { Ec2netError } from './errors.js';
import { parseKeyValues } from './model/keyvalues.js';
import type { Settings } from './planner/plan.js';
import { yesNo } from './render/ifcfg-flags.js';

/** The rtnetlink protocol number on every rule and route ec2net creates; registered in rt_protos.d as "ec2net". */
export const EC2NET_PROTOCOL = 236;

export interface Paths {
  readonly root: string;
  readonly networkScripts: string;
  readonly dhcp: string;
  readonly configFile: string;
  /** …/etc/udev/rules.d, where the persistent MAC → name rules go. */
  readonly udevRules: string;
  readonly runDir: string;
  readonly stateDir: string;
  /** systemd-networkd's search path, in its order of precedence; the agent writes only to the /run one. */
  readonly runNetwork: string;
  readonly networkDirs: readonly string[];
  /** networkd's runtime state (…/run/systemd/netif): present while networkd runs. */
  readonly networkdState: string;
  /** …/run/NetworkManager/devices: NetworkManager's per-ifindex files for the devices it manages. */
  readonly networkManagerDevices: string;
  /** …/etc/hostname, the persistent hostname written when SET_HOSTNAME=yes and the system had none. */
  readonly hostnameFile: string;
}

export function pathsFor(root: string): Paths {
  const r = root.replace(/\/+$/, '');
  return {
    root: r,
    networkScripts: `${r}/etc/sysconfig/network-scripts`,
    dhcp: `${r}/etc/dhcp`,
    configFile: `${r}/etc/ec2net/ec2net.conf`,
    udevRules: `${r}/etc/udev/rules.d`,
    runDir: `${r}/run/ec2net`,
    stateDir: `${r}/run/ec2net/state`,
    hostnameFile: `${r}/etc/hostname`,
    runNetwork: `${r}/run/systemd/network`,
    networkDirs: [`${r}/etc/systemd/network`, `${r}/run/systemd/network`, `${r}/usr/local/lib/systemd/network`, `${r}/usr/lib/systemd/network`, `${r}/lib/systemd/network`],
    networkdState: `${r}/run/systemd/netif`,
    networkManagerDevices: `${r}/run/NetworkManager/devices`,
  };
}

export type ActivationMode = 'auto' | 'ifup' | 'dhclient';
/** The backends (src/backends/), by the name BACKEND in ec2net.conf gives them. */
export const BACKEND_KINDS = ['ifcfg', 'networkd'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];
export type BackendMode = 'auto' | BackendKind;

export interface Config {
  readonly settings: Settings;
  readonly activation: ActivationMode;
  /** Opt-in: set the hostname from IMDS local-hostname when the system has none. */
  readonly setHostname: boolean;
  /** Which OS config to write; `auto` detects the manager of the system's interfaces. */
  readonly backend: BackendMode;
  /**
   * The networkd backend's equivalents of the ifcfg flags EC2PROVISIONPFXIPS and MAINROUTETABLE (in the ifcfg
   * backend the per-interface ifcfg file carries them).
   */
  readonly provisionPrefixIps: boolean;
  readonly mainRouteTable: boolean;
}

const KNOWN_KEYS = new Set(['PRIMARY_RULES', 'ACTIVATION', 'SET_HOSTNAME', 'BACKEND', 'PROVISION_PREFIX_IPS', 'MAIN_ROUTE_TABLE']);

function yesNoKey(values: ReadonlyMap<string, string>, key: string, fallback: boolean, path: string): boolean {
  const raw = values.get(key) ?? '';
  const v = raw === '' ? fallback : yesNo(raw);
  if (v === undefined) throw new Ec2netError('InvalidArgument', `${key} must be yes or no`, { path, key });
  return v;
}

/** Parses ec2net.conf; an absent file (text undefined) means defaults. Unknown keys are refused, not ignored. */
export function parseConfig(text: string | undefined, path: string): Config {
  const values = text === undefined ? new Map<string, string>() : parseKeyValues(text, path);
  for (const key of values.keys()) {
    if (!KNOWN_KEYS.has(key)) throw new Ec2netError('InvalidArgument', 'unknown key in the config file', { path, key });
  }
  const primaryRules = yesNoKey(values, 'PRIMARY_RULES', false, path);
  const setHostname = yesNoKey(values, 'SET_HOSTNAME', false, path);
  const activation = values.get('ACTIVATION') || 'auto';
  if (activation !== 'auto' && activation !== 'ifup' && activation !== 'dhclient') {
    throw new Ec2netError('InvalidArgument', 'ACTIVATION must be auto, ifup or dhclient', { path });
  }
  const backend = values.get('BACKEND') || 'auto';
  if (backend !== 'auto' && !(BACKEND_KINDS as readonly string[]).includes(backend)) {
    throw new Ec2netError('InvalidArgument', `BACKEND must be one of auto, ${BACKEND_KINDS.join(', ')}`, { path });
  }
  return {
    settings: { protocol: EC2NET_PROTOCOL, primaryRules },
    activation,
    setHostname,
    backend: backend as BackendMode,
    provisionPrefixIps: yesNoKey(values, 'PROVISION_PREFIX_IPS', false, path),
    mainRouteTable: yesNoKey(values, 'MAIN_ROUTE_TABLE', true, path),
  };
}
