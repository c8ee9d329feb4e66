/**
 * Parsers for the netlink messages ec2net reads (dump replies, acknowledgements, notifications): only the fields
 * it uses, straight from the bytes. The `netlink` library's generic parsers decode every attribute into objects,
 * which cost most of a dump's time at 1,400 rules and 1,500 addresses (15 dual-stack ENIs × 100 addresses), and
 * loading them cost more than the rest of a command's start. A command runs these once or twice, before the JIT
 * has compiled them, so they are written for the interpreter: no closure or view per message or attribute, and an
 * address is formatted only when it is used. Layouts from <linux/netlink.h>, <linux/rtnetlink.h>,
 * <linux/fib_rules.h>, <linux/if_addr.h>, <linux/if_link.h>.
 */
import { formatIpv6Bytes } from '../model/ipv6.js';
import type { Address, Family, Link, Route, RouteScope, Rule } from '../model/state.js';
import { AF, ARPHRD, FRA, IFA, IFF_UP, IFLA, NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN, RTA, RTN_UNICAST, RT_SCOPE, RT_TABLE } from './netlink-constants.js';

// Little-endian reads spelled out: Buffer's readUInt16LE and friends are JavaScript with range checks, several
// times the cost of two indexed loads while the code is still interpreted, which is all of a command's life.
function u16(buf: Buffer, off: number): number {
  return (buf[off] as number) | ((buf[off + 1] as number) << 8);
}

function u32(buf: Buffer, off: number): number {
  return ((buf[off] as number) | ((buf[off + 1] as number) << 8) | ((buf[off + 2] as number) << 16)) + (buf[off + 3] as number) * 0x1000000;
}

/** Fixed headers before the attributes: struct fib_rule_hdr and rtmsg, ifaddrmsg, ifinfomsg. */
const RULE_ROUTE_HDRLEN = 12;
const IFADDRMSG_LEN = 8;
const IFINFOMSG_LEN = 16;

/**
 * Whether the payload [start, end) holds a fixed header of `size` bytes: a shorter one is a malformed message, whose
 * "header" would be read from the next message's bytes. Such a message is skipped, as one of another family is.
 */
function holds(start: number, end: number, size: number): boolean {
  return end - start >= size;
}

/** Calls fn(type, flags, seq, start, end) for each message of a datagram, [start, end) being its payload. */
export function eachMessage(buf: Buffer, fn: (type: number, flags: number, seq: number, start: number, end: number) => void): void {
  for (let off = 0; off + NLMSG_HDRLEN <= buf.length; ) {
    const len = u32(buf, off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) return;
    fn(u16(buf, off + 4), u16(buf, off + 6), u32(buf, off + 8), off + NLMSG_HDRLEN, off + len);
    off += (len + 3) & ~3;
  }
}

/** struct nlmsgerr's error: 0 for an acknowledgement, a negative errno for a refusal. NLMSG_DONE carries one too. */
export function parseErrno(buf: Buffer, start = 0, end = buf.length): number {
  return end - start >= 4 ? buf.readInt32LE(start) : 0;
}

/** The family byte that starts every rtnetlink header ec2net reads; undefined for families it does not track. */
function familyAt(buf: Buffer, start: number): Family | undefined {
  const f = buf[start];
  return f === AF.INET ? 4 : f === AF.INET6 ? 6 : undefined;
}

/** The address in an attribute's value [s, e): 4 bytes IPv4, 16 bytes IPv6, otherwise undefined. */
function ipAt(buf: Buffer, s: number, e: number): string | undefined {
  if (e - s === 4) return `${buf[s]}.${buf[s + 1]}.${buf[s + 2]}.${buf[s + 3]}`;
  if (e - s === 16) return formatIpv6Bytes(buf, s);
  return undefined;
}

function anyAddress(family: Family): string {
  return family === 4 ? '0.0.0.0' : '::';
}

function cstring(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul >= 0 && nul < end ? nul : end);
}

/** The attribute's length, or 0 when what is left of [off, to) holds no well-formed attribute. */
function attrLen(buf: Buffer, off: number, to: number): number {
  if (off + NLA_HDRLEN > to) return 0;
  const len = u16(buf, off);
  return len < NLA_HDRLEN || off + len > to ? 0 : len;
}

function nextAttr(off: number, len: number): number {
  return off + ((len + 3) & ~3);
}

/** struct fib_rule_hdr (12 bytes) + FRA_* attributes; undefined for families other than IPv4 and IPv6. */
export function parseRule(buf: Buffer, start = 0, end = buf.length): Rule | undefined {
  const family = familyAt(buf, start);
  if (family === undefined || !holds(start, end, RULE_ROUTE_HDRLEN)) return undefined;
  const srcLen = buf[start + 2] ?? 0;
  let table = buf[start + 4] ?? 0;
  let srcAt = -1;
  let srcEnd = -1;
  let priority = 0;
  let protocol = 0;
  for (let off = start + 12, len = attrLen(buf, off, end); len > 0; off = nextAttr(off, len), len = attrLen(buf, off, end)) {
    const type = u16(buf, off + 2) & NLA_TYPE_MASK;
    const s = off + NLA_HDRLEN;
    if (type === FRA.SRC) {
      srcAt = s;
      srcEnd = off + len;
    } else if (type === FRA.PRIORITY) priority = u32(buf, s);
    else if (type === FRA.TABLE) table = u32(buf, s);
    else if (type === FRA.PROTOCOL) protocol = buf[s] ?? 0;
  }
  const src = (srcAt >= 0 ? ipAt(buf, srcAt, srcEnd) : undefined) ?? anyAddress(family);
  return { family, src: `${src}/${srcLen}`, table, priority, protocol };
}

/** A route notification's fields: table, protocol and output interface, of any route type and table. */
export function parseRouteEvent(buf: Buffer, start = 0, end = buf.length): { table: number; protocol: number; oif: number | undefined } | undefined {
  if (familyAt(buf, start) === undefined || !holds(start, end, RULE_ROUTE_HDRLEN)) return undefined;
  let table = buf[start + 4] ?? 0;
  let oif: number | undefined;
  for (let off = start + 12, len = attrLen(buf, off, end); len > 0; off = nextAttr(off, len), len = attrLen(buf, off, end)) {
    const type = u16(buf, off + 2) & NLA_TYPE_MASK;
    if (type === RTA.OIF) oif = u32(buf, off + NLA_HDRLEN);
    else if (type === RTA.TABLE) table = u32(buf, off + NLA_HDRLEN);
  }
  return { table, protocol: buf[start + 5] ?? 0, oif };
}

/** struct rtmsg (12 bytes) + RTA_* attributes; undefined for non-unicast routes and the local table. */
export function parseRoute(buf: Buffer, names: ReadonlyMap<number, string>, start = 0, end = buf.length): Route | undefined {
  const family = familyAt(buf, start);
  if (family === undefined || !holds(start, end, RULE_ROUTE_HDRLEN)) return undefined;
  if (buf[start + 7] !== RTN_UNICAST) return undefined;
  const dstLen = buf[start + 1] ?? 0;
  let table = buf[start + 4] ?? 0;
  const protocol = buf[start + 5] ?? 0;
  const scope: RouteScope = buf[start + 6] === RT_SCOPE.LINK ? 'link' : 'universe';
  let dst: string | undefined;
  let oif: number | undefined;
  let gateway: string | undefined;
  let prefsrc: string | undefined;
  let metric = 0;
  for (let off = start + 12, len = attrLen(buf, off, end); len > 0; off = nextAttr(off, len), len = attrLen(buf, off, end)) {
    const type = u16(buf, off + 2) & NLA_TYPE_MASK;
    const s = off + NLA_HDRLEN;
    if (type === RTA.TABLE) table = u32(buf, s);
    else if (type === RTA.DST) dst = ipAt(buf, s, off + len) ?? dst;
    else if (type === RTA.OIF) oif = u32(buf, s);
    else if (type === RTA.GATEWAY) gateway = ipAt(buf, s, off + len);
    else if (type === RTA.PRIORITY) metric = u32(buf, s);
    else if (type === RTA.PREFSRC) prefsrc = ipAt(buf, s, off + len);
  }
  if (table === RT_TABLE.LOCAL) return undefined;
  return {
    family,
    table,
    dst: `${dst ?? anyAddress(family)}/${dstLen}`,
    dev: oif === undefined ? '' : names.get(oif) ?? `if${oif}`,
    ...(gateway ? { gateway } : {}),
    ...(prefsrc ? { prefsrc } : {}),
    metric,
    scope,
    protocol,
  };
}

/** struct ifaddrmsg (8 bytes) + IFA_* attributes: the interface index and ADDRESS/PREFIXLEN (IFA_LOCAL first). */
export function parseAddressEvent(buf: Buffer, start = 0, end = buf.length): { family: Family; index: number; address: string } | undefined {
  const family = familyAt(buf, start);
  if (family === undefined || !holds(start, end, IFADDRMSG_LEN)) return undefined;
  let ip: string | undefined;
  let addressAt = -1;
  let addressEnd = -1;
  for (let off = start + 8, len = attrLen(buf, off, end); len > 0; off = nextAttr(off, len), len = attrLen(buf, off, end)) {
    const type = u16(buf, off + 2) & NLA_TYPE_MASK;
    if (type === IFA.LOCAL) ip = ipAt(buf, off + NLA_HDRLEN, off + len) ?? ip;
    else if (type === IFA.ADDRESS) {
      addressAt = off + NLA_HDRLEN;
      addressEnd = off + len;
    }
  }
  ip ??= addressAt >= 0 ? ipAt(buf, addressAt, addressEnd) : undefined;
  return ip ? { family, index: u32(buf, start + 4), address: `${ip}/${buf[start + 1] ?? 0}` } : undefined;
}

/** An address with the name of its interface; undefined for interfaces not in `names`. */
export function parseAddress(buf: Buffer, names: ReadonlyMap<number, string>, start = 0, end = buf.length): Address | undefined {
  if (!holds(start, end, IFADDRMSG_LEN) || !names.has(u32(buf, start + 4))) return undefined;
  const a = parseAddressEvent(buf, start, end);
  const dev = a && names.get(a.index);
  return a && dev ? { family: a.family, dev, address: a.address } : undefined;
}

/** struct ifinfomsg (16 bytes) + IFLA_* attributes. */
export function parseLink(buf: Buffer, start = 0, end = buf.length): Link | undefined {
  if (!holds(start, end, IFINFOMSG_LEN)) return undefined;
  const arpType = u16(buf, start + 2);
  const index = buf.readInt32LE(start + 4);
  const up = (u32(buf, start + 8) & IFF_UP) !== 0;
  let name = '';
  let mac = '00:00:00:00:00:00';
  const altnames: string[] = [];
  for (let off = start + 16, len = attrLen(buf, off, end); len > 0; off = nextAttr(off, len), len = attrLen(buf, off, end)) {
    const type = u16(buf, off + 2) & NLA_TYPE_MASK;
    const s = off + NLA_HDRLEN;
    const e = off + len;
    if (type === IFLA.IFNAME) name = cstring(buf, s, e);
    else if (type === IFLA.ADDRESS && e - s === 6) mac = [...buf.subarray(s, e)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    else if (type === IFLA.PROP_LIST) {
      for (let o = s, l = attrLen(buf, o, e); l > 0; o = nextAttr(o, l), l = attrLen(buf, o, e)) {
        if ((u16(buf, o + 2) & NLA_TYPE_MASK) === IFLA.ALT_IFNAME) altnames.push(cstring(buf, o + NLA_HDRLEN, o + l));
      }
    }
  }
  return { index, name, mac, up, altnames, ...(arpType !== ARPHRD.ETHER ? { arpType } : {}) };
}
