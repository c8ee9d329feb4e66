/**
 * Parsers for the rtnetlink dump replies ec2net reads: only the fields it uses, straight from the bytes. The
 * `netlink` library's generic parsers decode every attribute into objects, which costs most of a dump's time
 * at 1,500 rules (15 ENIs × 100 addresses); these read a handful of fixed offsets. Layouts from
 * <linux/rtnetlink.h>, <linux/fib_rules.h>, <linux/if_addr.h>, <linux/if_link.h>.
 */
import { formatIpv4 } from '../model/ipv4.js';
import { formatIpv6, ipv6FromBytes } from '../model/ipv6.js';
import type { Address, Family, Link, Route, RouteScope, Rule } from '../model/state.js';

const NLA_TYPE_MASK = 0x3fff;
const RT_SCOPE_LINK = 253;
const RTN_UNICAST = 1;
const RT_TABLE_LOCAL = 255;

const FRA_SRC = 2;
const FRA_PRIORITY = 6;
const FRA_TABLE = 15;
const FRA_PROTOCOL = 21;

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_PROP_LIST = 52;
const IFLA_ALT_IFNAME = 53;

/** Calls fn(type, start, end) for each attribute in buf[from, to). */
function eachAttr(buf: Buffer, from: number, to: number, fn: (type: number, start: number, end: number) => void): void {
  for (let off = from; off + 4 <= to; ) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > to) break;
    fn(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, off + 4, off + len);
    off += (len + 3) & ~3;
  }
}

const AF_INET = 2;
const AF_INET6 = 10;

/** The family byte that starts every rtnetlink header ec2net reads; undefined for families it does not track. */
function familyOf(buf: Buffer): Family | undefined {
  return buf[0] === AF_INET ? 4 : buf[0] === AF_INET6 ? 6 : undefined;
}

function ipAt(buf: Buffer, start: number, end: number): string | undefined {
  if (end - start === 4) return formatIpv4(buf.readUInt32BE(start));
  if (end - start === 16) return formatIpv6(ipv6FromBytes(buf, start));
  return undefined;
}

function anyAddress(family: Family): string {
  return family === 4 ? '0.0.0.0' : '::';
}

function cstring(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul >= 0 && nul < end ? nul : end);
}

/** struct fib_rule_hdr (12 bytes) + FRA_* attributes; undefined for families other than IPv4 and IPv6. */
export function parseRule(buf: Buffer): Rule | undefined {
  const family = familyOf(buf);
  if (family === undefined) return undefined;
  const srcLen = buf[2] ?? 0;
  let table = buf[4] ?? 0;
  let src = anyAddress(family);
  let priority = 0;
  let protocol = 0;
  eachAttr(buf, 12, buf.length, (type, s, e) => {
    if (type === FRA_SRC) src = ipAt(buf, s, e) ?? src;
    else if (type === FRA_PRIORITY) priority = buf.readUInt32LE(s);
    else if (type === FRA_TABLE) table = buf.readUInt32LE(s);
    else if (type === FRA_PROTOCOL) protocol = buf[s] ?? 0;
  });
  return { family, src: `${src}/${srcLen}`, table, priority, protocol };
}

/** struct rtmsg (12 bytes) + RTA_* attributes; undefined for non-unicast routes and the local table. */
export function parseRoute(buf: Buffer, names: ReadonlyMap<number, string>): Route | undefined {
  const family = familyOf(buf);
  if (family === undefined) return undefined;
  const dstLen = buf[1] ?? 0;
  let table = buf[4] ?? 0;
  const protocol = buf[5] ?? 0;
  const scope: RouteScope = buf[6] === RT_SCOPE_LINK ? 'link' : 'universe';
  if (buf[7] !== RTN_UNICAST) return undefined;
  let dst = anyAddress(family);
  let oif: number | undefined;
  let gateway: string | undefined;
  let prefsrc: string | undefined;
  let metric = 0;
  eachAttr(buf, 12, buf.length, (type, s, e) => {
    if (type === RTA_DST) dst = ipAt(buf, s, e) ?? dst;
    else if (type === RTA_OIF) oif = buf.readUInt32LE(s);
    else if (type === RTA_GATEWAY) gateway = ipAt(buf, s, e);
    else if (type === RTA_PRIORITY) metric = buf.readUInt32LE(s);
    else if (type === RTA_PREFSRC) prefsrc = ipAt(buf, s, e);
    else if (type === RTA_TABLE) table = buf.readUInt32LE(s);
  });
  if (table === RT_TABLE_LOCAL) return undefined;
  return {
    family,
    table,
    dst: `${dst}/${dstLen}`,
    dev: oif === undefined ? '' : names.get(oif) ?? `if${oif}`,
    ...(gateway ? { gateway } : {}),
    ...(prefsrc ? { prefsrc } : {}),
    metric,
    scope,
    protocol,
  };
}

/** struct ifaddrmsg (8 bytes) + IFA_* attributes. */
export function parseAddress(buf: Buffer, names: ReadonlyMap<number, string>): Address | undefined {
  const family = familyOf(buf);
  if (family === undefined) return undefined;
  const prefixLen = buf[1] ?? 0;
  const dev = names.get(buf.readUInt32LE(4));
  let local: string | undefined;
  let address: string | undefined;
  eachAttr(buf, 8, buf.length, (type, s, e) => {
    if (type === IFA_LOCAL) local = ipAt(buf, s, e);
    else if (type === IFA_ADDRESS) address = ipAt(buf, s, e);
  });
  const ip = local ?? address;
  return ip && dev ? { family, dev, address: `${ip}/${prefixLen}` } : undefined;
}

const IFF_UP = 1;

/** struct ifinfomsg (16 bytes) + IFLA_* attributes. */
export function parseLink(buf: Buffer): Link {
  const index = buf.readInt32LE(4);
  const up = (buf.readUInt32LE(8) & IFF_UP) !== 0;
  let name = '';
  let mac = '00:00:00:00:00:00';
  const altnames: string[] = [];
  eachAttr(buf, 16, buf.length, (type, s, e) => {
    if (type === IFLA_IFNAME) name = cstring(buf, s, e);
    else if (type === IFLA_ADDRESS && e - s === 6) mac = [...buf.subarray(s, e)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    else if (type === IFLA_PROP_LIST) {
      eachAttr(buf, s, e, (t, ss, ee) => {
        if (t === IFLA_ALT_IFNAME) altnames.push(cstring(buf, ss, ee));
      });
    }
  });
  return { index, name, mac, up, altnames };
}
