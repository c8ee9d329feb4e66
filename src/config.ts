/**
 * Where files live and what the admin configured. `EC2NET_ROOT` prefixes every path under /etc and /run, so tests
 * and packaging never touch the host's files. Reading the environment happens here and in the entry points only.
 */
import { Ec2netError } from './errors.js';
import { parseKeyValueLines } from './model/keyvalues.js';
import { parseIfname, parseMac } from './model/validate.js';
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
  /** …/run/NetworkManager/devices: NetworkManager's per-ifindex files for the devices it knows (`managed=`). */
  readonly networkManagerDevices: string;
  /** …/run/NetworkManager/system-connections: runtime profiles, where the NetworkManager backend writes. */
  readonly nmRunConnections: string;
  /** Where the image and the admin keep NetworkManager profiles (keyfiles) that persist. */
  readonly nmProfileDirs: readonly string[];
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
    nmRunConnections: `${r}/run/NetworkManager/system-connections`,
    nmProfileDirs: [`${r}/etc/NetworkManager/system-connections`, `${r}/usr/lib/NetworkManager/system-connections`],
  };
}

export type ActivationMode = 'auto' | 'ifup' | 'dhclient';
/** The backends (src/backends/), by the name BACKEND in ec2net.conf gives them. */
export const BACKEND_KINDS = ['ifcfg', 'networkd', 'nm'] as const;
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
  /** ENIs ec2net leaves to another agent (UNMANAGED): by name, MAC, ENI id, device-number or network-card range. */
  readonly unmanaged: readonly Selector[];
}

/** One word of UNMANAGED, as written, with what it matches. */
export type Selector =
  | { readonly text: string; readonly kind: 'name' | 'mac' | 'eni'; readonly value: string }
  | { readonly text: string; readonly kind: 'device-number' | 'network-card'; readonly from: number; readonly to: number };

/** What an ENI is matched by: its interface name and MAC, and from IMDS its id and numbers. */
export interface EniIdentity {
  readonly ifname: string;
  readonly mac: string;
  readonly eniId: string;
  readonly deviceNumber: number;
  readonly networkCard: number;
}

const RANGE = /^(device-number|network-card)=([0-9]{1,3})(?:(-)([0-9]{1,3})?)?$/;
/** Above any device-number or network-card index EC2 gives (the open end of `N-`). */
const RANGE_END = 999;

/** Parses one word of UNMANAGED; undefined when it is none of the forms. */
export function parseSelector(word: string): Selector | undefined {
  const range = RANGE.exec(word);
  if (range) {
    const from = Number(range[2]);
    const to = range[3] === undefined ? from : range[4] === undefined ? RANGE_END : Number(range[4]);
    return to >= from ? { text: word, kind: range[1] as 'device-number' | 'network-card', from, to } : undefined;
  }
  // eni-…, device-number…, network-card…: meant as those forms, never as an interface name.
  if (/^(eni-|device-number|network-card)/.test(word)) return /^eni-[0-9a-f]{8,17}$/.test(word) ? { text: word, kind: 'eni', value: word } : undefined;
  const mac = parseMac(word);
  if (mac) return { text: word, kind: 'mac', value: mac };
  const name = parseIfname(word);
  if (name && !word.includes('=')) return { text: word, kind: 'name', value: name };
  return undefined;
}

/** The first UNMANAGED word that matches this ENI, if any. */
export function unmanagedBy(config: Config, eni: EniIdentity): string | undefined {
  const matches = (sel: Selector): boolean => {
    switch (sel.kind) {
      case 'name':
        return sel.value === eni.ifname;
      case 'mac':
        return sel.value === eni.mac;
      case 'eni':
        return sel.value === eni.eniId;
      case 'device-number':
        return eni.deviceNumber >= sel.from && eni.deviceNumber <= sel.to;
      case 'network-card':
        return eni.networkCard >= sel.from && eni.networkCard <= sel.to;
    }
  };
  return config.unmanaged.find(matches)?.text;
}

/** Every key ec2net.conf may set (ec2net.conf(5)); any other is refused. */
export const CONFIG_KEYS = ['PRIMARY_RULES', 'ACTIVATION', 'SET_HOSTNAME', 'BACKEND', 'PROVISION_PREFIX_IPS', 'MAIN_ROUTE_TABLE', 'UNMANAGED'] as const;
const KNOWN_KEYS = new Set<string>(CONFIG_KEYS);

function yesNoKey(values: ReadonlyMap<string, string>, key: string, fallback: boolean, path: string): boolean {
  const raw = values.get(key) ?? '';
  const v = raw === '' ? fallback : yesNo(raw);
  if (v === undefined) throw new Ec2netError('InvalidArgument', `${key} must be yes or no`, { path, key });
  return v;
}

/** UNMANAGED's words; a word that is none of the forms is refused, naming it and the line it is on. */
function parseUnmanaged(value: string, path: string, line: number | undefined): Selector[] {
  return value
    .split(/\s+/)
    .filter((w) => w !== '')
    .map((word) => {
      const sel = parseSelector(word);
      if (!sel) {
        throw new Ec2netError(
          'InvalidArgument',
          `UNMANAGED: ${JSON.stringify(word.slice(0, 64))} is not an interface name, a MAC, an ENI id, device-number=N[-M] or network-card=N[-M]`,
          { path, key: 'UNMANAGED', line },
        );
      }
      return sel;
    });
}

/** Parses ec2net.conf; an absent file (text undefined) means defaults. Unknown keys are refused, not ignored. */
export function parseConfig(text: string | undefined, path: string): Config {
  const lines = text === undefined ? new Map<string, { value: string; line: number }>() : parseKeyValueLines(text, path);
  const values = new Map([...lines].map(([key, { value }]) => [key, value]));
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
    unmanaged: parseUnmanaged(values.get('UNMANAGED') ?? '', path, lines.get('UNMANAGED')?.line),
    mainRouteTable: yesNoKey(values, 'MAIN_ROUTE_TABLE', true, path),
  };
}
