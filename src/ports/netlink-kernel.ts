/**
 * KernelPort over rtnetlink. The `netlink` package (pinned: its API is declared unstable) provides only the
 * socket, its native addon; requests are built here and replies parsed by rtnl-parse.ts. Its generic message
 * layer decodes every attribute of every message into objects, and loading it (with the wifi and generic-netlink
 * structures its index pulls in) cost more than the rest of a command's start. This module and
 * netlink-events.ts are the only ones that import the package.
 *
 * Changes issued together (one `Promise.all` of rule adds) travel together: up to BATCH_MESSAGES requests in one
 * datagram, each with its own sequence number and acknowledgement. The kernel handles the messages of a
 * datagram one after the other exactly as if they had come one by one, and answers each, so adding 1,400 rules
 * takes a dozen round trips instead of 1,400.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { getSystemErrorName } from 'node:util';
import { RawNetlinkSocket } from 'netlink/dist/raw.js';
import { Ec2netError, asEc2netError } from '../errors.js';
import { formatIpv4, parseCidr4, parseIpv4 } from '../model/ipv4.js';
import { ipv6Bytes, parseCidr6, parseIpv6 } from '../model/ipv6.js';
import type { Address, Family, Link, Route, RouteScope, Rule } from '../model/state.js';
import { parseHostname, parseIfname } from '../model/validate.js';
import type { KernelPort, KernelSnapshot, KernelWatch } from './kernel.js';
import { watchKernel } from './netlink-events.js';
import { eachMessage, parseAddress, parseErrno, parseLink, parseRoute, parseRule } from './rtnl-parse.js';
import {
  AF,
  FRA,
  FR_ACT_TO_TBL,
  IFA,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFF_UP,
  IFLA,
  NETLINK_ROUTE,
  NLA_F_NESTED,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTA,
  RTM,
  RTN_UNICAST,
  RT_SCOPE,
  RT_TABLE,
} from './netlink-constants.js';

/** Every netlink request is bounded; a kernel that does not answer within this is a failure, not a wait. */
export const NETLINK_TIMEOUT_MS = 5_000;
/**
 * Requests sent in one datagram. The kernel queues an acknowledgement (about 768 bytes of receive buffer each)
 * for every one before the socket is read again; more than the default receive buffer (208 KiB) holds would be
 * dropped, so a batch stays well under it.
 */
export const BATCH_MESSAGES = 128;
/** The UTS namespace's hostname, as sethostname(2) sets it. */
const HOSTNAME_PATH = '/proc/sys/kernel/hostname';

const SCOPE: Record<RouteScope, number> = { universe: RT_SCOPE.UNIVERSE, link: RT_SCOPE.LINK };

function af(family: Family): number {
  return family === 4 ? AF.INET : AF.INET6;
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

function rejected(code: number): Error {
  let name = String(code);
  try {
    name = getSystemErrorName(code);
  } catch {
    // an errno node has no name for keeps its number
  }
  return new Error(`Request rejected: ${name}`);
}

/** One netlink attribute: length and type, the value, padding to 4 bytes. */
function nla(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + value.length + ((4 - (value.length % 4)) % 4));
  out.writeUInt16LE(4 + value.length, 0);
  out.writeUInt16LE(type, 2);
  value.copy(out, 4);
  return out;
}

function u32(type: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  return nla(type, b);
}

function u8(type: number, value: number): Buffer {
  return nla(type, Buffer.from([value]));
}

/** struct ifinfomsg: family, type, index, flags, change. */
function ifinfomsg(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/** A delete on an interface that is gone has nothing left to delete: its routes and addresses went with it. */
async function unlessGone<T>(message: Promise<T>): Promise<T | undefined> {
  try {
    return await message;
  } catch (e) {
    if (e instanceof Ec2netError && e.kind === 'NoSuchInterface') return undefined;
    throw e;
  }
}

/** The datagrams that hold a dump's replies (and maybe other answers: only messages with its `seq` are its own). */
interface DumpReplies {
  readonly seq: number;
  readonly datagrams: Buffer[];
}

interface Request {
  readonly type: number;
  readonly flags: number;
  readonly payload: Buffer;
  readonly resolve: (replies: DumpReplies) => void;
  readonly reject: (e: Error) => void;
}

interface Waiter {
  readonly request: Request;
  readonly dump: boolean;
  readonly replies: DumpReplies;
}

/** Calls fn(buf, start, end) for the payload of each reply of `type` in a dump's replies. */
function eachReply(replies: DumpReplies, type: number, fn: (buf: Buffer, start: number, end: number) => void): void {
  for (const buf of replies.datagrams) {
    eachMessage(buf, (t, _flags, seq, start, end) => {
      if (t === type && seq === replies.seq) fn(buf, start, end);
    });
  }
}

/**
 * A NETLINK_ROUTE socket that sends requests, one or many to a datagram, and hands each its answer: the
 * messages of a dump up to NLMSG_DONE, or the acknowledgement (or refusal) of a change.
 */
class RtnlSocket {
  private readonly raw = new RawNetlinkSocket(NETLINK_ROUTE);
  private readonly waiting = new Map<number, Waiter>();
  private seq = 0;

  constructor() {
    // Referenced only while an answer is awaited: an idle socket does not keep a command alive.
    this.raw.unref();
    this.raw.on('message', (buf: Buffer) => this.receive(buf));
    this.raw.on('error', (e: Error) => this.failAll(e));
  }

  close(): void {
    this.raw.close();
  }

  /** Sends the requests in one datagram; resolves when every one has its answer, or fails after the bound. */
  send(requests: readonly Request[], dump: boolean): Promise<void> {
    return new Promise<void>((done) => {
      const seqs: number[] = [];
      const frames: Buffer[] = [];
      let open = requests.length;
      for (const request of requests) {
        this.seq = (this.seq % 0xffff_ffff) + 1;
        const seq = this.seq;
        const header = Buffer.alloc(NLMSG_HDRLEN);
        header.writeUInt32LE(NLMSG_HDRLEN + request.payload.length, 0);
        header.writeUInt16LE(request.type, 4);
        header.writeUInt16LE(request.flags | NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK), 6);
        header.writeUInt32LE(seq, 8);
        frames.push(header, request.payload);
        seqs.push(seq);
        const settle = () => {
          if (--open === 0) {
            clearTimeout(timer);
            if (this.waiting.size === 0) this.raw.unref();
            done();
          }
        };
        this.waiting.set(seq, {
          dump,
          replies: { seq, datagrams: [] },
          request: {
            ...request,
            resolve: (r) => (request.resolve(r), settle()),
            reject: (e) => (request.reject(e), settle()),
          },
        });
      }
      const timer = setTimeout(() => {
        for (const seq of seqs) this.take(seq)?.request.reject(new Error('Timeout has been reached'));
      }, NETLINK_TIMEOUT_MS);
      this.raw.ref();
      this.raw.send(Buffer.concat(frames), undefined, (e?: Error) => {
        if (e) for (const seq of seqs) this.take(seq)?.request.reject(e);
      });
    });
  }

  private take(seq: number): Waiter | undefined {
    const w = this.waiting.get(seq);
    this.waiting.delete(seq);
    return w;
  }

  private failAll(e: Error): void {
    for (const seq of [...this.waiting.keys()]) this.take(seq)?.request.reject(e);
  }

  private receive(buf: Buffer): void {
    eachMessage(buf, (type, _flags, seq, start, end) => {
      const w = this.waiting.get(seq);
      if (!w) return; // the answer to a request that timed out
      if (type === NLMSG_ERROR || (type === NLMSG_DONE && w.dump)) {
        this.take(seq);
        const code = parseErrno(buf, start, end);
        if (code === 0) w.request.resolve(w.replies);
        else w.request.reject(rejected(code));
      } else if (w.dump && w.replies.datagrams.at(-1) !== buf) {
        w.replies.datagrams.push(buf);
      }
    });
  }
}

export class NetlinkKernel implements KernelPort {
  private readonly sock = new RtnlSocket();
  private linkCache: Map<string, number> | undefined;
  /** One dump or batch at a time: the kernel runs one dump per socket. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Changes issued since the last dump or batch began, sent together when their turn comes. */
  private batch: Request[] | undefined;

  close(): void {
    this.sock.close();
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.tail.then(op, op);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Runs a dump request; `parse` turns each reply of `replyType` into a value, or undefined to leave it out. */
  private async dump<T>(
    what: string,
    type: number,
    header: Buffer,
    replyType: number,
    parse: (buf: Buffer, start: number, end: number) => T | undefined,
  ): Promise<T[]> {
    // Changes issued after this dump go after it, as they would have one by one.
    this.batch = undefined;
    let replies: DumpReplies;
    try {
      replies = await this.serial(
        () =>
          new Promise<DumpReplies>((resolve, reject) => {
            void this.sock.send([{ type, flags: NLM_F_DUMP, payload: header, resolve, reject }], true);
          }),
      );
    } catch (e) {
      throw asEc2netError(e, 'PluginFailure', `netlink ${what} dump failed`);
    }
    const out: T[] = [];
    eachReply(replies, replyType, (buf, start, end) => {
      const v = parse(buf, start, end);
      if (v !== undefined) out.push(v);
    });
    return out;
  }

  /** Queues a change into the current batch; resolves once the kernel has acknowledged it. */
  private request(type: number, flags: number, payload: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let batch = this.batch;
      if (!batch) {
        const b: Request[] = [];
        batch = this.batch = b;
        void this.serial(async () => {
          if (this.batch === b) this.batch = undefined;
          for (let i = 0; i < b.length; i += BATCH_MESSAGES) await this.sock.send(b.slice(i, i + BATCH_MESSAGES), false);
        });
      }
      batch.push({ type, flags, payload, resolve: () => resolve(), reject });
    });
  }

  /** Runs a change; `benign` errnos mean the change is already in effect. */
  private async change(what: string, fields: Record<string, unknown>, benign: string[], type: number, flags: number, payload: Buffer): Promise<void> {
    try {
      await this.request(type, flags, payload);
    } catch (e) {
      if (benign.includes(errno(e))) return;
      throw asEc2netError(e, 'PluginFailure', `netlink ${what} failed`, fields);
    }
  }

  private async indexOf(name: string): Promise<number> {
    if (!this.linkCache?.has(name)) await this.links();
    const index = this.linkCache?.get(name);
    if (index === undefined) throw new Ec2netError('NoSuchInterface', 'no such interface', { iface: name });
    return index;
  }

  async links(): Promise<Link[]> {
    const links = await this.dump('link', RTM.GETLINK, Buffer.alloc(16), RTM.NEWLINK, parseLink);
    this.linkCache = new Map(links.map((l) => [l.name, l.index]));
    return links;
  }

  private namesOf(links: readonly Link[]): Map<number, string> {
    return new Map(links.map((l) => [l.index, l.name]));
  }

  // A dump request's header is all zero: family AF_UNSPEC dumps IPv4 and IPv6 in one request.
  private async allRules(): Promise<Rule[]> {
    return this.dump('rule', RTM.GETRULE, Buffer.alloc(12), RTM.NEWRULE, parseRule);
  }

  private async allRoutes(links: readonly Link[]): Promise<Route[]> {
    const names = this.namesOf(links);
    return this.dump('route', RTM.GETROUTE, Buffer.alloc(12), RTM.NEWROUTE, (buf, start, end) => parseRoute(buf, names, start, end));
  }

  private async allAddresses(links: readonly Link[]): Promise<Address[]> {
    const names = this.namesOf(links);
    return this.dump('address', RTM.GETADDR, Buffer.alloc(8), RTM.NEWADDR, (buf, start, end) => parseAddress(buf, names, start, end));
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

  /** struct fib_rule_hdr (family, dst_len, src_len, tos, table, 2 reserved, action, flags) + FRA_* attributes. */
  private ruleMessage(r: Rule): Buffer {
    const { bytes, len } = cidrParts(r.family, r.src);
    const hdr = Buffer.alloc(12);
    hdr[0] = af(r.family);
    hdr[2] = len;
    hdr[4] = RT_TABLE.UNSPEC;
    hdr[7] = FR_ACT_TO_TBL;
    return Buffer.concat([hdr, ...(len > 0 ? [nla(FRA.SRC, bytes)] : []), u32(FRA.TABLE, r.table), u32(FRA.PRIORITY, r.priority), u8(FRA.PROTOCOL, r.protocol)]);
  }

  async addRule(r: Rule): Promise<void> {
    await this.change('rule add', { rule: r }, ['EEXIST'], RTM.NEWRULE, NLM_F_CREATE | NLM_F_EXCL, this.ruleMessage(r));
  }

  async delRule(r: Rule): Promise<void> {
    await this.change('rule del', { rule: r }, ['ENOENT'], RTM.DELRULE, 0, this.ruleMessage(r));
  }

  /** struct rtmsg (family, dst_len, src_len, tos, table, protocol, scope, type, flags) + RTA_* attributes. */
  private async routeMessage(r: Route): Promise<Buffer> {
    const { bytes, len } = cidrParts(r.family, r.dst);
    const oif = await this.indexOf(r.dev);
    const hdr = Buffer.alloc(12);
    hdr[0] = af(r.family);
    hdr[1] = len;
    hdr[4] = r.table < 256 ? r.table : RT_TABLE.UNSPEC;
    hdr[5] = r.protocol;
    hdr[6] = SCOPE[r.scope];
    hdr[7] = RTN_UNICAST;
    return Buffer.concat([
      hdr,
      ...(len > 0 ? [nla(RTA.DST, bytes)] : []),
      u32(RTA.OIF, oif),
      u32(RTA.TABLE, r.table),
      u32(RTA.PRIORITY, r.metric),
      ...(r.gateway ? [nla(RTA.GATEWAY, ipBytes(r.family, r.gateway))] : []),
      ...(r.prefsrc ? [nla(RTA.PREFSRC, ipBytes(r.family, r.prefsrc))] : []),
    ]);
  }

  async addRoute(r: Route): Promise<void> {
    const msg = await this.routeMessage(r);
    await this.change('route add', { route: r }, ['EEXIST'], RTM.NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, msg);
  }

  async delRoute(r: Route): Promise<void> {
    const msg = await unlessGone(this.routeMessage(r));
    if (!msg) return;
    await this.change('route del', { route: r }, ['ESRCH', 'ENOENT', 'ENODEV'], RTM.DELROUTE, 0, msg);
  }

  /** struct ifaddrmsg (family, prefixlen, flags, scope, index) + IFA_LOCAL and IFA_ADDRESS. */
  private async addressMessage(a: Address): Promise<Buffer> {
    const { bytes, len } = cidrParts(a.family, a.address);
    const index = await this.indexOf(a.dev);
    const hdr = Buffer.alloc(8);
    hdr[0] = af(a.family);
    hdr[1] = len;
    // EC2 hands out each address once: duplicate address detection would only hold it tentative (unusable as a
    // source) for a second or more.
    hdr[2] = a.family === 6 ? IFA_F_NODAD : 0;
    hdr.writeUInt32LE(index, 4);
    if (a.family === 4) return Buffer.concat([hdr, nla(IFA.LOCAL, bytes), nla(IFA.ADDRESS, bytes)]);
    // IFA_FLAGS (32 bits, kernel 3.14) adds noprefixroute: the kernel would otherwise put a main-table route
    // for each /128 beside its local one, which routes nothing the local one does not, and makes every dump of
    // an instance with hundreds of IPv6 addresses hundreds of routes longer.
    return Buffer.concat([hdr, nla(IFA.LOCAL, bytes), nla(IFA.ADDRESS, bytes), u32(IFA.FLAGS, IFA_F_NODAD | IFA_F_NOPREFIXROUTE)]);
  }

  async addAddress(a: Address): Promise<void> {
    const msg = await this.addressMessage(a);
    await this.change('address add', { address: a }, ['EEXIST'], RTM.NEWADDR, NLM_F_CREATE | NLM_F_EXCL, msg);
  }

  async delAddress(a: Address): Promise<void> {
    const msg = await unlessGone(this.addressMessage(a));
    if (!msg) return;
    await this.change('address del', { address: a }, ['EADDRNOTAVAIL', 'ENODEV', 'ENOENT'], RTM.DELADDR, 0, msg);
  }

  async addAltname(name: string, altname: string): Promise<void> {
    const index = await this.indexOf(name);
    const inner = nla(IFLA.ALT_IFNAME, Buffer.from(`${altname}\0`, 'utf8'));
    const msg = Buffer.concat([ifinfomsg(index), nla(IFLA.PROP_LIST | NLA_F_NESTED, inner)]);
    await this.change('link property add', { iface: name, altname }, ['EEXIST'], RTM.NEWLINKPROP, NLM_F_CREATE | NLM_F_EXCL, msg);
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

  async acceptRaWhileForwarding(name: string): Promise<boolean> {
    if (!parseIfname(name)) throw new Ec2netError('Bug', 'bad sysctl arguments', { iface: name });
    const path = `/proc/sys/net/ipv6/conf/${name}/accept_ra`;
    try {
      if ((await readFile(path, 'utf8')).trim() !== '1') return false;
      await writeFile(path, '2\n');
      return true;
    } catch (e) {
      throw asEc2netError(e, 'PluginFailure', 'accepting router advertisements while forwarding failed', { iface: name, path });
    }
  }

  watch(): KernelWatch {
    return watchKernel();
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
    await this.change('link set up', { iface: name }, [], RTM.SETLINK, 0, ifinfomsg(index, IFF_UP, IFF_UP));
  }

  async setLinkDown(name: string): Promise<void> {
    const index = await this.indexOf(name);
    await this.change('link set down', { iface: name }, [], RTM.SETLINK, 0, ifinfomsg(index, 0, IFF_UP));
  }
}
