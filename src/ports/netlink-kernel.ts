/**
 * KernelPort over rtnetlink, using the `netlink` package (pinned: its API is declared unstable) for the socket
 * and for building requests; dump replies are parsed by rtnl-parse.ts. This module and netlink-events.ts are the
 * only ones that import the package.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createRtNetlink, rt, type RtNetlinkSocket } from 'netlink';
import { Ec2netError, asEc2netError } from '../errors.js';
import { formatIpv4, parseCidr4, parseIpv4 } from '../model/ipv4.js';
import { ipv6Bytes, parseCidr6, parseIpv6 } from '../model/ipv6.js';
import type { Address, Family, Link, Route, RouteScope, Rule } from '../model/state.js';
import { parseHostname, parseIfname } from '../model/validate.js';
import type { KernelPort, KernelSnapshot } from './kernel.js';
import { parseAddress, parseLink, parseRoute, parseRule } from './rtnl-parse.js';

const AF_INET = 2;
const AF_INET6 = 10;
/** Every netlink request is bounded; a kernel that does not answer within this is a failure, not a wait. */
export const NETLINK_TIMEOUT_MS = 5_000;
const RT_TABLE_UNSPEC = 0;
/** The UTS namespace's hostname, as sethostname(2) sets it. */
const HOSTNAME_PATH = '/proc/sys/kernel/hostname';
const NLM_F_DUMP = 0x300;
const RTM = { NEWLINK: 16, GETLINK: 18, NEWADDR: 20, GETADDR: 22, NEWROUTE: 24, GETROUTE: 26, NEWRULE: 32, GETRULE: 34 } as const;

/** A dump request's header, all zero: family AF_UNSPEC dumps IPv4 and IPv6 in one request. */
function unspecHeader(size: number): Buffer {
  return Buffer.alloc(size);
}
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const SCOPE: Record<RouteScope, number> = { universe: 0, link: 253 };

function af(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}

function ipBytes(family: Family, text: string): Buffer {
  if (family === 6) {
    const v6 = parseIpv6(text);
    if (v6 === undefined) throw new Ec2netError('Bug', 'kernel port given a bad IPv6 address', { address: text });
    return ipv6Bytes(v6);
  }
  const v = parseIpv4(text);
  if (v === undefined) throw new Ec2netError('Bug', 'kernel port given a bad IPv4 address', { address: text });
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

function cidrParts(family: Family, text: string): { bytes: Buffer; len: number } {
  if (family === 6) {
    const c6 = parseCidr6(text, false);
    if (!c6) throw new Ec2netError('Bug', 'kernel port given a bad IPv6 CIDR', { cidr: text });
    return { bytes: ipv6Bytes(c6.base), len: c6.prefixLen };
  }
  const c = parseCidr4(text, false);
  if (!c) throw new Ec2netError('Bug', 'kernel port given a bad IPv4 CIDR', { cidr: text });
  return { bytes: ipBytes(4, formatIpv4(c.base)), len: c.prefixLen };
}



function errno(e: unknown): string {
  const m = /Request rejected: (\w+)/.exec(e instanceof Error ? e.message : '');
  return m ? (m[1] as string) : '';
}

const RTM_NEWLINKPROP = 108;
const IFLA_PROP_LIST = 52;
const IFLA_ALT_IFNAME = 53;
const NLA_F_NESTED = 0x8000;

/** One netlink attribute: length and type, the value, padding to 4 bytes. */
function nla(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + value.length + ((4 - (value.length % 4)) % 4));
  out.writeUInt16LE(4 + value.length, 0);
  out.writeUInt16LE(type, 2);
  value.copy(out, 4);
  return out;
}

/** A delete on an interface that is gone has nothing left to delete: its routes and addresses went with it. */
async function unlessGone<T>(message: Promise<T>): Promise<T | undefined> {
  try {
    return await message;
  } catch (e) {
    if (e instanceof Ec2netError && e.kind === 'NotFound') return undefined;
    throw e;
  }
}

export class NetlinkKernel implements KernelPort {
  private readonly sock: RtNetlinkSocket;
  private linkCache: Map<string, number> | undefined;
  /** One request at a time: the kernel runs one dump per socket, and the library cannot demultiplex two. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor() {
    this.sock = createRtNetlink();
  }

  close(): void {
    this.sock.socket.socket.close();
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.tail.then(op, op);
    this.tail = next.catch(() => undefined);
    return next;
  }

  private async dump<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await this.serial(op);
    } catch (e) {
      throw asEc2netError(e, 'PluginFailure', `netlink ${what} dump failed`);
    }
  }

  private opts(flags = 0) {
    return { timeout: NETLINK_TIMEOUT_MS, flags };
  }

  /** Runs a change; `benign` errnos mean the change is already in effect. */
  private async change(what: string, fields: Record<string, unknown>, benign: string[], op: () => Promise<unknown>): Promise<void> {
    try {
      await this.serial(op);
    } catch (e) {
      if (benign.includes(errno(e))) return;
      throw asEc2netError(e, 'PluginFailure', `netlink ${what} failed`, fields);
    }
  }

  private async indexOf(name: string): Promise<number> {
    if (!this.linkCache?.has(name)) await this.links();
    const index = this.linkCache?.get(name);
    if (index === undefined) throw new Ec2netError('NotFound', 'no such interface', { iface: name });
    return index;
  }

  /** A dump request's replies of `replyType`, as raw message bodies. */
  private async rawDump(what: string, type: number, header: Buffer, replyType: number): Promise<Buffer[]> {
    const [msgs] = await this.dump(what, () => this.sock.socket.request(type, header, { timeout: NETLINK_TIMEOUT_MS, flags: NLM_F_DUMP }));
    return msgs.filter((m) => m.type === replyType).map((m) => m.data);
  }

  async links(): Promise<Link[]> {
    const links = (await this.rawDump('link', RTM.GETLINK, Buffer.alloc(16), RTM.NEWLINK)).map(parseLink);
    this.linkCache = new Map(links.map((l) => [l.name, l.index]));
    return links;
  }

  private namesOf(links: readonly Link[]): Map<number, string> {
    return new Map(links.map((l) => [l.index, l.name]));
  }

  private async allRules(): Promise<Rule[]> {
    return (await this.rawDump('rule', RTM.GETRULE, unspecHeader(12), RTM.NEWRULE)).flatMap((b) => parseRule(b) ?? []);
  }

  private async allRoutes(links: readonly Link[]): Promise<Route[]> {
    const names = this.namesOf(links);
    return (await this.rawDump('route', RTM.GETROUTE, unspecHeader(12), RTM.NEWROUTE)).flatMap((b) => parseRoute(b, names) ?? []);
  }

  private async allAddresses(links: readonly Link[]): Promise<Address[]> {
    const names = this.namesOf(links);
    return (await this.rawDump('address', RTM.GETADDR, unspecHeader(8), RTM.NEWADDR)).flatMap((b) => parseAddress(b, names) ?? []);
  }

  async rules(family: Family): Promise<Rule[]> {
    return (await this.allRules()).filter((r) => r.family === family);
  }

  async routes(family: Family, links?: readonly Link[]): Promise<Route[]> {
    return (await this.allRoutes(links ?? (await this.links()))).filter((r) => r.family === family);
  }

  async addresses(family: Family, links?: readonly Link[]): Promise<Address[]> {
    return (await this.allAddresses(links ?? (await this.links()))).filter((a) => a.family === family);
  }

  async snapshot(): Promise<KernelSnapshot> {
    const links = await this.links();
    const [rules, routes, addresses] = await Promise.all([this.allRules(), this.allRoutes(links), this.allAddresses(links)]);
    return { links, rules, routes, addresses };
  }

  private ruleMessage(r: Rule) {
    const { bytes, len } = cidrParts(r.family, r.src);
    return [
      { family: af(r.family), srcLen: len, table: RT_TABLE_UNSPEC, action: 'toTbl' as const },
      { ...(len > 0 ? { src: bytes } : {}), table: r.table, priority: r.priority, protocol: r.protocol },
    ] as const;
  }

  async addRule(r: Rule): Promise<void> {
    const [data, attrs] = this.ruleMessage(r);
    await this.change('rule add', { rule: r }, ['EEXIST'], () => this.sock.newRule(data, attrs, this.opts(NLM_F_CREATE | NLM_F_EXCL)));
  }

  async delRule(r: Rule): Promise<void> {
    const [data, attrs] = this.ruleMessage(r);
    await this.change('rule del', { rule: r }, ['ENOENT'], () => this.sock.delRule(data, attrs, this.opts()));
  }

  private async routeMessage(r: Route) {
    const { bytes, len } = cidrParts(r.family, r.dst);
    const oif = await this.indexOf(r.dev);
    const data = {
      family: af(r.family),
      dstLen: len,
      table: r.table < 256 ? r.table : RT_TABLE_UNSPEC,
      protocol: r.protocol,
      scope: SCOPE[r.scope],
      type: rt.RouteType.UNICAST,
    };
    const attrs = {
      ...(len > 0 ? { dst: bytes } : {}),
      oif,
      table: r.table,
      priority: r.metric,
      ...(r.gateway ? { gateway: ipBytes(r.family, r.gateway) } : {}),
      ...(r.prefsrc ? { prefsrc: ipBytes(r.family, r.prefsrc) } : {}),
    };
    return [data, attrs] as const;
  }

  async addRoute(r: Route): Promise<void> {
    const [data, attrs] = await this.routeMessage(r);
    await this.change('route add', { route: r }, ['EEXIST'], () => this.sock.newRoute(data, attrs, this.opts(NLM_F_CREATE | NLM_F_EXCL)));
  }

  async delRoute(r: Route): Promise<void> {
    const msg = await unlessGone(this.routeMessage(r));
    if (!msg) return;
    const [data, attrs] = msg;
    await this.change('route del', { route: r }, ['ESRCH', 'ENOENT', 'ENODEV'], () => this.sock.delRoute(data, attrs, this.opts()));
  }

  private async addressMessage(a: Address) {
    const { bytes, len } = cidrParts(a.family, a.address);
    const index = await this.indexOf(a.dev);
    // EC2 hands out each address once: duplicate address detection would only hold it tentative (unusable as a
    // source) for a second or more.
    const flags = a.family === 6 ? { nodad: true as const } : {};
    return [{ family: af(a.family), prefixlen: len, index, flags }, { local: bytes, address: bytes }] as const;
  }

  async addAddress(a: Address): Promise<void> {
    const [data, attrs] = await this.addressMessage(a);
    await this.change('address add', { address: a }, ['EEXIST'], () => this.sock.newAddress(data, attrs, this.opts(NLM_F_CREATE | NLM_F_EXCL)));
  }

  async delAddress(a: Address): Promise<void> {
    const msg = await unlessGone(this.addressMessage(a));
    if (!msg) return;
    const [data, attrs] = msg;
    await this.change('address del', { address: a }, ['EADDRNOTAVAIL', 'ENODEV', 'ENOENT'], () => this.sock.delAddress(data, attrs, this.opts()));
  }

  async addAltname(name: string, altname: string): Promise<void> {
    const index = await this.indexOf(name);
    const header = rt.formatLink({ index });
    const value = Buffer.from(`${altname}\0`, 'utf8');
    const inner = nla(IFLA_ALT_IFNAME, value);
    const attrs = nla(IFLA_PROP_LIST | NLA_F_NESTED, inner);
    await this.change('link property add', { iface: name, altname }, ['EEXIST'], () =>
      this.sock.request(RTM_NEWLINKPROP, [header, attrs], this.opts(NLM_F_CREATE | NLM_F_EXCL)),
    );
  }

  async setRaRouteMetric(name: string, metric: number): Promise<boolean> {
    // /proc/sys/net belongs to the network namespace of the process, like the rtnetlink socket.
    if (!parseIfname(name) || !Number.isInteger(metric) || metric < 1) throw new Ec2netError('Bug', 'bad sysctl arguments', { iface: name, metric });
    const path = `/proc/sys/net/ipv6/conf/${name}/ra_defrtr_metric`;
    try {
      if ((await readFile(path, 'utf8')).trim() === String(metric)) return false;
      await writeFile(path, `${metric}\n`);
      return true;
    } catch (e) {
      throw asEc2netError(e, 'PluginFailure', 'setting the RA default route metric failed', { iface: name, path });
    }
  }

  async hostname(): Promise<string> {
    return (await readFile(HOSTNAME_PATH, 'utf8')).trim();
  }

  async setHostname(name: string): Promise<void> {
    if (!parseHostname(name)) throw new Ec2netError('Bug', 'bad hostname', { hostname: name });
    try {
      await writeFile(HOSTNAME_PATH, name);
    } catch (e) {
      throw asEc2netError(e, 'PluginFailure', 'setting the hostname failed', { hostname: name });
    }
  }

  async setLinkUp(name: string): Promise<void> {
    const index = await this.indexOf(name);
    await this.change('link set up', { iface: name }, [], () => this.sock.setLink({ index, change: { up: true }, flags: { up: true } }, undefined, this.opts()));
  }
}
