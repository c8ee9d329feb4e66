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
  };
}

export type ActivationMode = 'auto' | 'ifup' | 'dhclient';

export interface Config {
  readonly settings: Settings;
  readonly activation: ActivationMode;
}

const KNOWN_KEYS = new Set(['PRIMARY_RULES', 'ACTIVATION']);

/** Parses ec2net.conf; an absent file (text undefined) means defaults. Unknown keys are refused, not ignored. */
export function parseConfig(text: string | undefined, path: string): Config {
  const values = text === undefined ? new Map<string, string>() : parseKeyValues(text, path);
  for (const key of values.keys()) {
    if (!KNOWN_KEYS.has(key)) throw new Ec2netError('InvalidArgument', 'unknown key in the config file', { path, key });
  }
  const primaryRaw = values.get('PRIMARY_RULES') ?? '';
  const primaryRules = primaryRaw === '' ? false : yesNo(primaryRaw);
  if (primaryRules === undefined) throw new Ec2netError('InvalidArgument', 'PRIMARY_RULES must be yes or no', { path });
  const activation = values.get('ACTIVATION') || 'auto';
  if (activation !== 'auto' && activation !== 'ifup' && activation !== 'dhclient') {
    throw new Ec2netError('InvalidArgument', 'ACTIVATION must be auto, ifup or dhclient', { path });
  }
  return { settings: { protocol: EC2NET_PROTOCOL, primaryRules }, activation };
}
