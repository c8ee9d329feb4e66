/**
 * The udev rules file that keeps an ENI's name across detach and re-attach (MAC → name), as the
 * 75-persistent-net-generator rule of ec2-net-utils v1 kept 70-persistent-net.rules. udev parses this file as
 * root at every network device event, so every MAC and name is validated (parseMac, parseIfname) before it is
 * written, and the parser reads back only lines in exactly the rendered form.
 *
 * Altnames (`eni-…`, `device-number-N[.C]`) are not udev's job: the agent sets them over rtnetlink once IMDS has
 * named the ENI, which udev cannot know.
 */
import { Ec2netError } from '../errors.js';
import { parseIfname, parseMac } from '../model/validate.js';
import { linesOf, type FileSpec } from './files.js';

export const PERSISTENT_NET_RULES_FILE = '70-ec2net-persistent-net.rules';

export interface PersistentName {
  /** Lower case, as sysfs prints ATTR{address}; udev compares it as a case-sensitive pattern. */
  readonly mac: string;
  readonly name: string;
}

export type RuleOp = '==' | '!=' | '=' | '+=' | '-=' | ':=';

/** One `KEY{attr}OP"value"` of a udev rule line. */
export interface RuleToken {
  readonly key: string;
  readonly attr?: string;
  readonly op: RuleOp;
  readonly value: string;
}

/**
 * The part of udev's rule syntax that ec2net writes and ships: comma-separated `KEY=="value"`, `KEY{attr}=="value"`
 * pairs, each value in double quotes without backslashes or quotes inside. Line continuations and escapes are
 * valid udev but never needed here, so they are refused rather than half-understood. Comment and blank lines are
 * the caller's business.
 */
export function parseRuleLine(line: string): { tokens: RuleToken[] } | { error: string } {
  const pair = /^\s*([A-Z_]+)(?:\{([A-Za-z0-9_.-]+)\})?(==|!=|\+=|-=|:=|=)"([^"\\]*)"\s*(,|$)/;
  const tokens: RuleToken[] = [];
  let rest = line;
  for (;;) {
    const m = pair.exec(rest);
    if (!m) return { error: `not KEY[{attr}]OP"value" at ${JSON.stringify(rest.slice(0, 40))}` };
    const [whole, key, attr, op, value, sep] = m as unknown as [string, string, string | undefined, RuleOp, string, string];
    tokens.push(attr === undefined ? { key, op, value } : { key, attr, op, value });
    rest = rest.slice(whole.length);
    if (sep === '') return rest === '' ? { tokens } : { error: 'text after the last pair' };
    if (rest.trim() === '') return { error: 'trailing comma' };
  }
}

export function formatRuleLine(tokens: readonly RuleToken[]): string {
  return tokens.map((t) => `${t.key}${t.attr === undefined ? '' : `{${t.attr}}`}${t.op}"${t.value}"`).join(', ');
}

/**
 * DRIVERS=="?*" matches only a device with a driver-bound parent (the ENI's PCI or Xen device): a VLAN or macvlan
 * on top of an ENI carries the ENI's MAC but no driver, and must not take its name. ATTR{type}=="1" is ARPHRD_ETHER.
 */
function persistentLine(mac: string, name: string): RuleToken[] {
  return [
    { key: 'SUBSYSTEM', op: '==', value: 'net' },
    { key: 'ACTION', op: '==', value: 'add' },
    { key: 'DRIVERS', op: '==', value: '?*' },
    { key: 'ATTR', attr: 'address', op: '==', value: mac },
    { key: 'ATTR', attr: 'type', op: '==', value: '1' },
    { key: 'NAME', op: '=', value: name },
  ];
}

const HEADER = [
  '# ec2net: persistent ENI names, one line per MAC address, so that an ENI detached and attached again comes',
  '# back with the name it had. ec2net writes this file. A line it does not recognise makes it refuse to rewrite',
  '# the file rather than drop the line.',
];

export function persistentNetRulesPath(rulesDir: string): string {
  return `${rulesDir.replace(/\/+$/, '')}/${PERSISTENT_NET_RULES_FILE}`;
}

function validEntry(mac: string, name: string): PersistentName {
  const m = parseMac(mac);
  if (m === undefined) throw new Ec2netError('InvalidArgument', 'invalid MAC address for a persistent name', { mac });
  if (parseIfname(name) === undefined) throw new Ec2netError('InvalidArgument', 'invalid interface name for a persistent name', { iface: name });
  return { mac: m, name };
}

/** Validates every entry and refuses a MAC with two names or a name with two MACs (udev would rename twice). */
function checkedSorted(entries: readonly PersistentName[], fields: Record<string, unknown> = {}): PersistentName[] {
  const valid = entries.map((e) => validEntry(e.mac, e.name));
  const macs = new Set<string>();
  const names = new Set<string>();
  for (const e of valid) {
    if (macs.has(e.mac)) throw new Ec2netError('InvalidArgument', 'a MAC address has two persistent names', { ...fields, mac: e.mac });
    if (names.has(e.name)) throw new Ec2netError('InvalidArgument', 'an interface name is persistent for two MAC addresses', { ...fields, iface: e.name });
    macs.add(e.mac);
    names.add(e.name);
  }
  return valid.sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
}

export function renderPersistentNetRules(rulesDir: string, entries: readonly PersistentName[]): FileSpec {
  const lines = [...HEADER, ...checkedSorted(entries).map((e) => formatRuleLine(persistentLine(e.mac, e.name)))];
  return { path: persistentNetRulesPath(rulesDir), content: linesOf(lines), mode: 0o644 };
}

function sameTokens(a: readonly RuleToken[], b: readonly RuleToken[]): boolean {
  return a.length === b.length && a.every((t, i) => formatRuleLine([t]) === formatRuleLine([b[i] as RuleToken]));
}

/**
 * Reads back a file written by renderPersistentNetRules; an absent file (undefined) has no entries. Comment and
 * blank lines are skipped. Any other line that is not a rendered line (spacing between pairs aside), and any
 * invalid MAC, name or duplicate, is refused with an InvalidArgument error naming the line: the file is rewritten
 * whole from what was parsed, so ignoring a line would silently delete it.
 */
export function parsePersistentNetRules(text: string | undefined, path?: string): PersistentName[] {
  if (text === undefined) return [];
  const entries: PersistentName[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = { ...(path === undefined ? {} : { path }), line: i + 1 };
    const parsed = parseRuleLine(line);
    const tokens = 'tokens' in parsed ? parsed.tokens : [];
    const mac = tokens[3]?.value ?? '';
    const name = tokens[5]?.value ?? '';
    if (!sameTokens(tokens, persistentLine(mac, name)) || parseMac(mac) !== mac || parseIfname(name) !== name) {
      throw new Ec2netError('InvalidArgument', 'not a persistent-name line ec2net writes', fields);
    }
    entries.push({ mac, name });
  });
  return checkedSorted(entries, path === undefined ? {} : { path });
}

export type NameAssignment =
  | { readonly outcome: 'added'; readonly entries: PersistentName[] }
  | { readonly outcome: 'unchanged'; readonly entries: PersistentName[] }
  /** The MAC already has a name: it keeps its first one, `name`. */
  | { readonly outcome: 'mac-has-name'; readonly name: string; readonly entries: PersistentName[] }
  /** Another MAC, `owner`, holds the name: it is not reassigned. */
  | { readonly outcome: 'name-taken'; readonly owner: string; readonly entries: PersistentName[] };

/** The entries with `mac → name` added, unless the MAC already has a name or the name belongs to another MAC. */
export function withPersistentName(entries: readonly PersistentName[], mac: string, name: string): NameAssignment {
  const wanted = validEntry(mac, name);
  const current = checkedSorted(entries);
  const byMac = current.find((e) => e.mac === wanted.mac);
  if (byMac !== undefined) {
    return byMac.name === wanted.name
      ? { outcome: 'unchanged', entries: current }
      : { outcome: 'mac-has-name', name: byMac.name, entries: current };
  }
  const byName = current.find((e) => e.name === wanted.name);
  if (byName !== undefined) return { outcome: 'name-taken', owner: byName.mac, entries: current };
  return { outcome: 'added', entries: checkedSorted([...current, wanted]) };
}
