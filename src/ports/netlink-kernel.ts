/**
 * KernelPort over rtnetlink, using the `netlink` package (pinned: its API is declared unstable). This is the
 * only module that imports it.
 */
import { createRtNetlink, rt, type RtNetlinkSocket } from 'netlink';
import { Ec2netError, asEc2netError } from '../errors.js';
import { formatIpv4, parseCidr4, parseIpv4 } from '../model/ipv4.js';
import type { Address, Family, Link, Route, RouteScope, Rule } from '../model/state.js';
import type { KernelPort } from './kernel.js';

const AF_INET = 2;
const AF_INET6 = 10;
/** Every netlink request is bounded; a kernel that does not answer within this is a failure, not a wait. */
export const NETLINK_TIMEOUT_MS = 5_000;
const RT_TABLE_UNSPEC = 0;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RT_TABLE_LOCAL = 255;
const SCOPE: Record<RouteScope, number> = { universe: 0, link: 253 };

function af(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}

function ipv4Bytes(text: string): Buffer {
  const v = parseIpv4(text);
  if (v === undefined) throw new Ec2netError('Bug', 'kernel port given a non-IPv4 address', { address: text });
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

function cidrParts(text: string): { bytes: Buffer; len: number } {
  const c = parseCidr4(text, false);
  if (!c) throw new Ec2netError('Bug', 'kernel port given a non-IPv4 CIDR', { cidr: text });
  return { bytes: ipv4Bytes(formatIpv4(c.base)), len: c.prefixLen };
}

function bytesToIpv4(b: Buffer | undefined): string | undefined {
  return b && b.length === 4 ? formatIpv4(b.readUInt32BE(0)) : undefined;
}

function enumNumber(value: unknown, names: Record<string, unknown>): number {
  if (typeof value === 'number') return value;
  const n = typeof value === 'string' ? names[value] ?? names[value.toUpperCase()] : undefined;
  return typeof n === 'number' ? n : -1;
}

function errno(e: unknown): string {
  const m = /Request rejected: (\w+)/.exec(e instanceof Error ? e.message : '');
  return m ? (m[1] as string) : '';
}

const RTM_NEWLINKPROP = 108;
const IFLA_PROP_LIST = 52;
const IFLA_ALT_IFNAME = 53;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

/** One netlink attribute: length and type, the value, padding to 4 bytes. */
function nla(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + value.length + ((4 - (value.length % 4)) % 4));
  out.writeUInt16LE(4 + value.length, 0);
  out.writeUInt16LE(type, 2);
  value.copy(out, 4);
  return out;
}

/** The IFLA_ALT_IFNAME strings nested in an IFLA_PROP_LIST. */
function altnamesOf(propList: Buffer | undefined): string[] {
  const names: string[] = [];
  for (let off = 0; propList && off + 4 <= propList.length; ) {
    const len = propList.readUInt16LE(off);
    if (len < 4) break;
    if ((propList.readUInt16LE(off + 2) & NLA_TYPE_MASK) === IFLA_ALT_IFNAME) {
      names.push(propList.subarray(off + 4, off + len).toString('utf8').replace(/\0+$/, ''));
    }
    off += len + ((4 - (len % 4)) % 4);
  }
  return names;
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

  async links(): Promise<Link[]> {
    const msgs = await this.dump('links', () => this.sock.getLinks(undefined, undefined, this.opts()));
    const links = msgs.map((m) => {
      const mac = m.attrs.address && m.attrs.address.length === 6 ? [...m.attrs.address].map((b) => b.toString(16).padStart(2, '0')).join(':') : '00:00:00:00:00:00';
      return { index: m.data.index ?? 0, name: m.attrs.ifname ?? '', mac, up: Boolean(m.data.flags?.up), altnames: altnamesOf(m.attrs.propList) };
    });
    this.linkCache = new Map(links.map((l) => [l.name, l.index]));
    return links;
  }

  private async namesByIndex(): Promise<Map<number, string>> {
    return new Map((await this.links()).map((l) => [l.index, l.name]));
  }

  async rules(family: Family): Promise<Rule[]> {
    if (family !== 4) return [];
    const msgs = await this.dump('rules', () => this.sock.getRules({ family: af(family) }, undefined, this.opts()));
    return msgs.map((m) => ({
      family,
      src: `${bytesToIpv4(m.attrs.src) ?? '0.0.0.0'}/${m.data.srcLen ?? 0}`,
      table: m.attrs.table ?? m.data.table ?? 0,
      priority: m.attrs.priority ?? 0,
      protocol: m.attrs.protocol ?? 0,
    }));
  }

  async routes(family: Family): Promise<Route[]> {
    if (family !== 4) return [];
    const [msgs, names] = await Promise.all([this.dump('routes', () => this.sock.getRoutes({ family: af(family) }, undefined, this.opts())), this.namesByIndex()]);
    const routes: Route[] = [];
    for (const m of msgs) {
      const table = m.attrs.table ?? m.data.table ?? 0;
      if (table === RT_TABLE_LOCAL || enumNumber(m.data.type, rt.RouteType as unknown as Record<string, unknown>) !== rt.RouteType.UNICAST) continue;
      const scope = enumNumber(m.data.scope, rt.RouteScope as unknown as Record<string, unknown>);
      const gateway = bytesToIpv4(m.attrs.gateway);
      const prefsrc = bytesToIpv4(m.attrs.prefsrc);
      routes.push({
        family,
        table,
        dst: `${bytesToIpv4(m.attrs.dst) ?? '0.0.0.0'}/${m.data.dstLen ?? 0}`,
        dev: m.attrs.oif !== undefined ? names.get(m.attrs.oif) ?? `if${m.attrs.oif}` : '',
        ...(gateway ? { gateway } : {}),
        ...(prefsrc ? { prefsrc } : {}),
        metric: m.attrs.priority ?? 0,
        scope: scope === SCOPE.link ? 'link' : 'universe',
        protocol: enumNumber(m.data.protocol, rt.RouteProtocol as unknown as Record<string, unknown>),
      });
    }
    return routes;
  }

  async addresses(family: Family): Promise<Address[]> {
    if (family !== 4) return [];
    const [msgs, names] = await Promise.all([this.dump('addresses', () => this.sock.getAddresses({ family: af(family) }, undefined, this.opts())), this.namesByIndex()]);
    return msgs.flatMap((m) => {
      const ip = bytesToIpv4(m.attrs.local ?? m.attrs.address);
      const dev = names.get(m.data.index ?? -1);
      return ip && dev ? [{ family, dev, address: `${ip}/${m.data.prefixlen ?? 32}` }] : [];
    });
  }

  private ruleMessage(r: Rule) {
    const { bytes, len } = cidrParts(r.src);
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
    const { bytes, len } = cidrParts(r.dst);
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
      ...(r.gateway ? { gateway: ipv4Bytes(r.gateway) } : {}),
      ...(r.prefsrc ? { prefsrc: ipv4Bytes(r.prefsrc) } : {}),
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
    const { bytes, len } = cidrParts(a.address);
    const index = await this.indexOf(a.dev);
    return [{ family: af(a.family), prefixlen: len, index }, { local: bytes, address: bytes }] as const;
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

  async setLinkUp(name: string): Promise<void> {
    const index = await this.indexOf(name);
    await this.change('link set up', { iface: name }, [], () => this.sock.setLink({ index, change: { up: true }, flags: { up: true } }, undefined, this.opts()));
  }
}
