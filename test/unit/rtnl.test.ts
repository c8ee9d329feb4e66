/**
 * The rtnetlink encoders of netlink-kernel.ts and the parsers of rtnl-parse.ts, on bytes only (no socket is opened).
 * Layouts: <linux/netlink.h>, <linux/rtnetlink.h>, <linux/fib_rules.h>, <linux/if_addr.h>, <linux/if_link.h>.
 * Captured replies: test/fixtures/rtnl (README.md there: kernel 6.18.44, iproute2 6.1.0, made by capture.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Ec2netError } from '../../src/errors.js';
import { formatIpv6, ipv6FromBytes, parseIpv6 } from '../../src/model/ipv6.js';
import { addressKey, type Address, type Family, type Link, type Route, type Rule } from '../../src/model/state.js';
import { NetlinkKernel } from '../../src/ports/netlink-kernel.js';
import { AF, FRA, FR_ACT_TO_TBL, IFA, IFA_F_NODAD, IFA_F_NOPREFIXROUTE, IFF_UP, NLMSG_DONE, NLMSG_ERROR, NLM_F_CREATE, NLM_F_EXCL, RTA, RTM, RTN_UNICAST } from '../../src/ports/netlink-constants.js';
import { eachMessage, parseAddress, parseErrno, parseLink, parseRoute, parseRule } from '../../src/ports/rtnl-parse.js';
import { prng } from '../support/prng.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/rtnl/', import.meta.url));
const INDEX = new Map([['eth1', 2], ['eth2', 3]]);
const NAMES = new Map([...INDEX].map(([name, i]) => [i, name]));

interface Msg { type: number; seq: number; buf: Buffer; start: number; end: number }

/** Every message of the datagrams, as eachMessage walks them. */
function walk(datagrams: Buffer[]): Msg[] {
  const out: Msg[] = [];
  for (const buf of datagrams) eachMessage(buf, (type, _flags, seq, start, end) => out.push({ type, seq, buf, start, end }));
  return out;
}

/** A capture: one datagram per line, in hex. */
const captured = (name: string) => walk(readFileSync(`${FIXTURES}${name}.hex`, 'utf8').trim().split('\n').map((l) => Buffer.from(l, 'hex')));

/** One netlink attribute, padded to 4 bytes (struct nlattr). */
function nla(type: number, value: Buffer, len = 4 + value.length): Buffer {
  const b = Buffer.alloc((4 + value.length + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  return b;
}

const u32 = (v: number) => Buffer.from(new Uint32Array([v]).buffer);

/** The attributes of a message whose family header is `hdrLen` bytes: type, offset and length of each. */
function attrs(m: Msg, hdrLen: number): Array<{ type: number; off: number; len: number }> {
  const out = [];
  for (let off = m.start + hdrLen; off + 4 <= m.end; off += (m.buf.readUInt16LE(off) + 3) & ~3) {
    out.push({ type: m.buf.readUInt16LE(off + 2), off, len: m.buf.readUInt16LE(off) });
  }
  return out;
}

/** struct nlmsghdr + payload, as RtnlSocket.send frames a request. */
function frame(type: number, seq: number, payload: Buffer, len = 16 + payload.length): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(len, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, payload]);
}

interface Sent { type: number; flags: number; payload: Buffer }

/**
 * A NetlinkKernel that was never constructed, so it has no socket: the encoders on its prototype run as they do for
 * real, and the two private methods they call are replaced: change() records the request instead of sending it,
 * indexOf() answers from INDEX (NoSuchInterface otherwise, as the real one does).
 */
function recordingKernel(): { kernel: NetlinkKernel; sent: Sent[] } {
  const sent: Sent[] = [];
  const kernel = Object.assign(Object.create(NetlinkKernel.prototype) as object, {
    change: async (_what: string, _fields: unknown, _benign: string[], type: number, flags: number, payload: Buffer) =>
      void sent.push({ type, flags, payload }),
    indexOf: async (name: string) =>
      INDEX.get(name) ?? Promise.reject(new Ec2netError('NoSuchInterface', 'no such interface', { iface: name })),
  }) as unknown as NetlinkKernel;
  return { kernel, sent };
}

/** The requests in one datagram, as a batch travels, walked back into messages. */
const batch = (sent: Sent[]) => walk([Buffer.concat(sent.map((s, i) => frame(s.type, i + 1, s.payload)))]);

describe('encode → parse round trips (a request and the dump entry share the layout)', () => {
  const rules: Rule[] = [
    { family: 4, src: '10.0.1.6/32', table: 10001, priority: 10001, protocol: 236 },
    { family: 4, src: '10.0.1.0/24', table: 10001, priority: 10100, protocol: 236 },
    { family: 4, src: '0.0.0.0/0', table: 254, priority: 32765, protocol: 236 },
    { family: 6, src: '2001:db8:1:0:1234::6/128', table: 10001, priority: 10001, protocol: 236 },
    { family: 6, src: '2001:db8:1:0:1234::/80', table: 70000, priority: 10200, protocol: 236 },
  ];
  for (const r of rules) {
    test(`rule from ${r.src} lookup ${r.table}`, async () => {
      const { kernel, sent } = recordingKernel();
      await kernel.addRule(r);
      await kernel.delRule(r);
      assert.deepEqual(sent.map((s) => [s.type, s.flags]), [[RTM.NEWRULE, NLM_F_CREATE | NLM_F_EXCL], [RTM.DELRULE, 0]]);
      for (const m of batch(sent)) assert.deepEqual(parseRule(m.buf, m.start, m.end), r);
    });
  }

  const routes: Route[] = [
    { family: 4, table: 10001, dst: '0.0.0.0/0', dev: 'eth1', gateway: '10.0.1.1', metric: 10001, scope: 'universe', protocol: 236 },
    { family: 4, table: 10001, dst: '10.0.1.0/24', dev: 'eth1', prefsrc: '10.0.1.5', metric: 0, scope: 'link', protocol: 236 },
    { family: 6, table: 10001, dst: '::/0', dev: 'eth2', gateway: 'fe80::1', metric: 1024, scope: 'universe', protocol: 236 },
    { family: 6, table: 254, dst: '2001:db8:1::/64', dev: 'eth1', metric: 256, scope: 'universe', protocol: 236 },
  ];
  for (const r of routes) {
    test(`route ${r.dst} dev ${r.dev} table ${r.table}`, async () => {
      const { kernel, sent } = recordingKernel();
      await kernel.addRoute(r);
      await kernel.delRoute(r);
      assert.deepEqual(sent.map((s) => [s.type, s.flags]), [[RTM.NEWROUTE, NLM_F_CREATE | NLM_F_EXCL], [RTM.DELROUTE, 0]]);
      for (const m of batch(sent)) assert.deepEqual(parseRoute(m.buf, NAMES, m.start, m.end), r);
    });
  }

  test('a route on an interface that is gone: add fails NoSuchInterface, delete sends nothing', async () => {
    const { kernel, sent } = recordingKernel();
    const r: Route = { ...(routes[0] as Route), dev: 'eth9' };
    await assert.rejects(kernel.addRoute(r), (e) => e instanceof Ec2netError && e.kind === 'NoSuchInterface');
    await kernel.delRoute(r);
    assert.equal(sent.length, 0);
  });

  const addresses: Address[] = [
    { family: 4, dev: 'eth1', address: '10.0.1.6/32' },
    { family: 4, dev: 'eth2', address: '10.0.1.5/24' },
    { family: 6, dev: 'eth1', address: '2001:db8:1:0:1234::6/128' },
  ];
  for (const a of addresses) {
    test(`address ${a.address} dev ${a.dev}`, async () => {
      const { kernel, sent } = recordingKernel();
      await kernel.addAddress(a);
      await kernel.delAddress(a);
      assert.deepEqual(sent.map((s) => [s.type, s.flags]), [[RTM.NEWADDR, NLM_F_CREATE | NLM_F_EXCL], [RTM.DELADDR, 0]]);
      for (const m of batch(sent)) assert.deepEqual(parseAddress(m.buf, NAMES, m.start, m.end), a);
    });
  }

  test('an IPv6 address is asked for with the IFA_FLAGS the kernel reports for `ip addr add ... nodad noprefixroute`', async () => {
    const ifaFlags = (m: Msg) => {
      const a = attrs(m, 8).find((x) => x.type === IFA.FLAGS);
      return a ? m.buf.readUInt32LE(a.off + 4) : 0;
    };
    const { kernel, sent } = recordingKernel();
    await kernel.addAddress(addresses[2] as Address);
    const [req] = batch(sent) as [Msg];
    const dumped = captured('addr').find((m) => m.type === RTM.NEWADDR && parseAddress(m.buf, NAMES, m.start, m.end)?.address === '2001:db8:1:0:1234::6/128');
    assert.ok(dumped, 'captured address');
    const bits = IFA_F_NODAD | IFA_F_NOPREFIXROUTE;
    assert.equal(ifaFlags(dumped) & bits, bits);
    assert.equal(ifaFlags(req) & bits, bits);
  });

  test('link up, link down and altname requests parse as the link change they ask for', async () => {
    const { kernel, sent } = recordingKernel();
    await kernel.setLinkUp('eth2');
    await kernel.setLinkDown('eth2');
    await kernel.addAltname('eth1', 'ens6');
    assert.deepEqual(sent.map((s) => [s.type, s.flags]), [[RTM.SETLINK, 0], [RTM.SETLINK, 0], [RTM.NEWLINKPROP, NLM_F_CREATE | NLM_F_EXCL]]);
    const [up, down, alt] = batch(sent) as [Msg, Msg, Msg];
    // A request leaves ifi_type 0: the kernel does not read it.
    const link = { index: 3, name: '', mac: '00:00:00:00:00:00', altnames: [], arpType: 0 };
    assert.deepEqual(parseLink(up.buf, up.start, up.end), { ...link, up: true });
    assert.deepEqual(parseLink(down.buf, down.start, down.end), { ...link, up: false });
    // ifi_change, the mask of flags to change: IFF_UP only. With 0, net/core/rtnetlink.c (do_setlink) takes ifi_flags
    // as all the flags, or, when they are 0 too (a down request), changes nothing.
    for (const m of [up, down]) assert.equal(m.buf.readUInt32LE(m.start + 12), IFF_UP, 'ifi_change: IFF_UP only');
    assert.deepEqual(parseLink(alt.buf, alt.start, alt.end), { index: 2, name: '', mac: '00:00:00:00:00:00', up: false, altnames: ['ens6'], arpType: 0 });
  });
});

/** What `ip -N -json` showed of the captured state (ip.json, written by capture.ts right after the dumps). */
interface IpView {
  link: Array<{ ifindex: number; ifname: string; address: string; flags: string[]; altnames?: string[]; link_type: string }>;
  addr: Array<{ ifname: string; addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
  rule4: IpRule[];
  rule6: IpRule[];
  route4: IpRoute[];
  route6: IpRoute[];
}
interface IpRule { priority: number; src: string; srclen?: number; table: string; protocol: string }
interface IpRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev: string;
  table?: string;
  protocol: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
}

describe('captured kernel dumps (kernel 6.18.44, iproute2 6.1.0) against `ip -json` of the same state', () => {
  const ip = JSON.parse(readFileSync(`${FIXTURES}ip.json`, 'utf8')) as IpView;
  const parsedOf = <T>(name: string, type: number, parse: (m: Msg) => T | undefined) =>
    captured(name).filter((m) => m.type === type).flatMap((m) => parse(m) ?? []);
  const links = parsedOf('link', RTM.NEWLINK, (m) => parseLink(m.buf, m.start, m.end));
  const names = new Map(links.map((l) => [l.index, l.name]));
  const any = (f: Family) => (f === 4 ? '0.0.0.0' : '::');
  const full = (f: Family) => (f === 4 ? 32 : 128);

  test('links: index, name, MAC, up flag, altnames (IFLA_PROP_LIST arrives with NLA_F_NESTED set), type where not Ethernet', () => {
    // `ip -N` prints the ARPHRD type as "[N]".
    const type = (l: IpView['link'][number]) => Number(/^\[([0-9]+)\]$/.exec(l.link_type)?.[1]);
    const expected: Link[] = ip.link.map((l) => ({
      index: l.ifindex,
      name: l.ifname,
      mac: l.address,
      up: l.flags.includes('UP'),
      altnames: l.altnames ?? [],
      ...(type(l) !== 1 ? { arpType: type(l) } : {}),
    }));
    assert.deepEqual(links, expected);
    assert.deepEqual(links.find((l) => l.name === 'eth1'), { index: 2, name: 'eth1', mac: '02:00:00:00:10:01', up: true, altnames: ['ens6'] });
    assert.equal(links.find((l) => l.name === 'eth2')?.up, false);
    assert.equal(links.find((l) => l.name === 'lo')?.arpType, 772);
  });

  test('addresses: family, interface, address and prefix length (the /128 was added noprefixroute)', () => {
    const parsed = parsedOf('addr', RTM.NEWADDR, (m) => parseAddress(m.buf, names, m.start, m.end));
    const expected = ip.addr.flatMap((l) =>
      l.addr_info.map((a): Address => ({ family: a.family === 'inet' ? 4 : 6, dev: l.ifname, address: `${a.local}/${a.prefixlen}` })),
    );
    const byKey = (xs: Address[]) => [...xs].sort((a, b) => addressKey(a).localeCompare(addressKey(b)));
    assert.deepEqual(byKey(parsed), byKey(expected));
    assert.equal(parsed.length, 7);
  });

  test('rules: source and its length, table (FRA_TABLE above 255), priority, protocol', () => {
    const parsed = parsedOf('rule', RTM.NEWRULE, (m) => parseRule(m.buf, m.start, m.end));
    const view = (f: Family) => (r: IpRule): Rule => ({
      family: f,
      src: r.src === 'all' ? `${any(f)}/0` : `${r.src}/${r.srclen ?? full(f)}`,
      table: Number(r.table),
      priority: r.priority,
      protocol: Number(r.protocol),
    });
    assert.deepEqual(parsed, [...ip.rule4.map(view(4)), ...ip.rule6.map(view(6))]);
    assert.deepEqual(parsed.filter((r) => r.protocol === 236).map((r) => `${r.src} ${r.table} ${r.priority}`), [
      '10.0.1.6/32 10001 10001', '10.0.1.0/24 10001 10100', '2001:db8:1:0:1234::6/128 10001 10001', '2001:db8:1:0:1234::/80 10001 10200',
    ]);
  });

  test('routes: unicast routes outside the local table, with gateway, prefsrc, metric, scope, table, protocol', () => {
    const all = captured('route').filter((m) => m.type === RTM.NEWROUTE);
    assert.equal(all.length, ip.route4.length + ip.route6.length);
    const parsed = all.flatMap((m) => parseRoute(m.buf, names, m.start, m.end) ?? []);
    // ip omits what is the default: type unicast, table main (254), metric 0, scope universe (IPv6 shows none).
    const view = (f: Family) => (r: IpRoute): Route => ({
      family: f,
      table: Number(r.table ?? 254),
      dst: r.dst === 'default' ? `${any(f)}/0` : r.dst.includes('/') ? r.dst : `${r.dst}/${full(f)}`,
      dev: r.dev,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      ...(r.prefsrc ? { prefsrc: r.prefsrc } : {}),
      metric: r.metric ?? 0,
      scope: r.scope === '253' ? 'link' : 'universe',
      protocol: Number(r.protocol),
    });
    const wanted = (r: IpRoute) => r.type === undefined && r.table !== '255';
    assert.deepEqual(parsed, [...ip.route4.filter(wanted).map(view(4)), ...ip.route6.filter(wanted).map(view(6))]);
    assert.deepEqual(parsed.find((r) => r.family === 6 && r.table === 10001 && r.dst === '::/0'),
      { family: 6, table: 10001, dst: '::/0', dev: 'eth1', gateway: 'fe80::1', metric: 1024, scope: 'universe', protocol: 236 });
  });

  test('each dump ends with NLMSG_DONE carrying 0, all under the request\'s sequence number', () => {
    ['link', 'addr', 'rule', 'route'].forEach((name, i) => {
      const msgs = captured(name);
      assert.deepEqual(new Set(msgs.map((m) => m.seq)), new Set([1001 + i]), name);
      const last = msgs.at(-1) as Msg;
      assert.equal(last.type, NLMSG_DONE, name);
      assert.equal(parseErrno(last.buf, last.start, last.end), 0, name);
      assert.equal(msgs.filter((m) => m.type === NLMSG_DONE).length, 1, name);
    });
  });

  test('NLMSG_ERROR: 0 acknowledges, a negative errno refuses (the same rule twice: EEXIST)', () => {
    const [ack, refusal] = captured('ack') as [Msg, Msg];
    assert.deepEqual([ack.type, ack.seq, parseErrno(ack.buf, ack.start, ack.end)], [NLMSG_ERROR, 2001, 0]);
    assert.deepEqual([refusal.type, refusal.seq, parseErrno(refusal.buf, refusal.start, refusal.end)], [NLMSG_ERROR, 2002, -constants.errno.EEXIST]);
    // struct nlmsgerr echoes the request's header after the errno: its type and sequence number.
    assert.deepEqual([refusal.buf.readUInt16LE(refusal.start + 8), refusal.buf.readUInt32LE(refusal.start + 12)], [RTM.NEWRULE, 2002]);
  });
});

describe('parser edge cases', () => {
  /** fib_rule_hdr: AF_INET, src_len, table byte 7, action FR_ACT_TO_TBL. */
  const ruleHdr = (srcLen: number, family: number = AF.INET) => Buffer.from([family, 0, srcLen, 0, 7, 0, 0, FR_ACT_TO_TBL, 0, 0, 0, 0]);
  const src = nla(FRA.SRC, Buffer.from([10, 0, 1, 6]));

  test('eachMessage walks messages back to back, aligned to 4 bytes even when a length is not', () => {
    const seen: Array<[number, number, number]> = [];
    const buf = Buffer.concat([frame(RTM.NEWRULE, 1, Buffer.alloc(8), 21), frame(RTM.NEWROUTE, 2, Buffer.alloc(4)), frame(NLMSG_DONE, 3, u32(0))]);
    eachMessage(buf, (type, _flags, seq, start, end) => seen.push([type, seq, end - start]));
    assert.deepEqual(seen, [[RTM.NEWRULE, 1, 5], [RTM.NEWROUTE, 2, 4], [NLMSG_DONE, 3, 4]]);
  });

  test('eachMessage stops at a truncated message, a length past the buffer, or a length below the header', () => {
    const one = frame(RTM.NEWRULE, 1, Buffer.alloc(12));
    const seqs = (buf: Buffer) => walk([buf]).map((m) => m.seq);
    assert.deepEqual(seqs(Buffer.concat([one, frame(RTM.NEWRULE, 2, Buffer.alloc(12)).subarray(0, 20)])), [1]);
    assert.deepEqual(seqs(Buffer.concat([one, frame(RTM.NEWRULE, 2, Buffer.alloc(12), 64)])), [1]);
    assert.deepEqual(seqs(Buffer.concat([frame(RTM.NEWRULE, 1, Buffer.alloc(12), 0), one])), []);
    assert.deepEqual(seqs(Buffer.concat([frame(RTM.NEWRULE, 1, Buffer.alloc(12), 8), one])), []);
    assert.deepEqual(seqs(one.subarray(0, 15)), []);
  });

  test('unknown attributes are skipped, odd lengths padded', () => {
    const odd = nla(0x7ff, Buffer.from([1, 2, 3, 4, 5]));
    const empty = nla(99, Buffer.alloc(0));
    const buf = Buffer.concat([ruleHdr(32), odd, src, empty, nla(FRA.PRIORITY, u32(500)), nla(FRA.TABLE, u32(10001))]);
    assert.deepEqual(parseRule(buf), { family: 4, src: '10.0.1.6/32', table: 10001, priority: 500, protocol: 0 });
  });

  test('an attribute whose length runs past the message is not read, nor anything after it', () => {
    // table 7 is the header's byte: the FRA_TABLE that claims 64 bytes, and the FRA_PRIORITY after it, are not read.
    const bad = nla(FRA.TABLE, u32(10001), 64);
    const rule = { family: 4, src: '10.0.1.6/32', table: 7, priority: 0, protocol: 0 };
    assert.deepEqual(parseRule(Buffer.concat([ruleHdr(32), src, bad, nla(FRA.PRIORITY, u32(500))])), rule);
    // Whole attributes lying in the buffer beyond the message's end belong to someone else.
    const msg = Buffer.concat([ruleHdr(32), src]);
    const buf = Buffer.concat([msg, nla(FRA.PRIORITY, u32(500)), nla(FRA.TABLE, u32(10001))]);
    assert.deepEqual(parseRule(buf, 0, msg.length), rule);
  });

  test('a payload shorter than its fixed header is skipped, not completed from the bytes after it', () => {
    // <linux/fib_rules.h> fib_rule_hdr and <linux/rtnetlink.h> rtmsg: 12 bytes; ifaddrmsg 8; ifinfomsg 16.
    const parsers: [string, (b: Buffer, s: number, e: number) => unknown, number][] = [
      ['rule', (b, s, e) => parseRule(b, s, e), 12],
      ['route', (b, s, e) => parseRoute(b, NAMES, s, e), 12],
      ['addr', (b, s, e) => parseAddress(b, NAMES, s, e), 8],
      ['link', (b, s, e) => parseLink(b, s, e), 16],
    ];
    for (const [name, parse, size] of parsers) {
      const m = captured(name).find((x) => parse(x.buf, x.start, x.end) !== undefined);
      assert.ok(m, name);
      for (let cut = 1; cut < size; cut++) assert.equal(parse(m.buf, m.start, m.start + cut), undefined, `${name} cut to ${cut} bytes`);
    }
  });

  test('every truncation of a captured route parses as the bytes before the cut alone do: nothing past `end` is read', () => {
    const m = captured('route').find((x) => x.type === RTM.NEWROUTE && parseRoute(x.buf, NAMES, x.start, x.end)?.gateway === 'fe80::1');
    assert.ok(m);
    const gateway = attrs(m, 12).find((a) => a.type === RTA.GATEWAY);
    assert.ok(gateway);
    const gatewayEnd = gateway.off + gateway.len;
    for (let end = m.start + 12; end <= m.end; end++) {
      const r = parseRoute(m.buf, NAMES, m.start, end);
      assert.deepEqual(r, parseRoute(Buffer.from(m.buf.subarray(m.start, end)), NAMES), `cut at ${end - m.start}`);
      assert.equal(r?.gateway, end >= gatewayEnd ? 'fe80::1' : undefined, `cut at ${end - m.start}`);
    }
  });

  test('families other than IPv4 and IPv6 are left out (multicast routing rules, say)', () => {
    // RTNL_FAMILY_IPMR is 128 in <linux/rtnetlink.h>: an AF_UNSPEC rule dump holds them on kernels with ipmr tables.
    assert.equal(parseRule(Buffer.concat([ruleHdr(0, 128), nla(FRA.TABLE, u32(10001))])), undefined);
  });

  test('parseErrno: the int32 after the header, 0 when there is none', () => {
    assert.equal(parseErrno(u32(-constants.errno.ENOENT >>> 0)), -constants.errno.ENOENT);
    assert.equal(parseErrno(Buffer.alloc(2)), 0);
  });

  test('IPv6 addresses come out in RFC 5952 form, as src/model/ipv6.ts formats them', () => {
    const src6 = (bytes: Buffer) => parseRule(Buffer.concat([ruleHdr(128, AF.INET6), nla(FRA.SRC, bytes)]))?.src;
    // RFC 5952 4.2.2: a single 0 group is not shortened; 4.2.3: the longest run, the first of equal ones, is.
    for (const [hex, text] of [
      ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
      ['20010000000000010000000000010001', '2001::1:0:0:1:1'],
      ['00000000000000000000000000000000', '::'],
      ['00000000000000000000000000000001', '::1'],
      ['20010db8000000000000000000000000', '2001:db8::'],
      ['fe8000000000000000ff0000fe001001', 'fe80::ff:0:fe00:1001'],
    ] as const) assert.equal(src6(Buffer.from(hex, 'hex')), `${text}/128`);
    const word = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), (words) => {
        const bytes = Buffer.alloc(16);
        words.forEach((w, i) => bytes.writeUInt16BE(w, 2 * i));
        assert.equal(src6(bytes), `${formatIpv6(ipv6FromBytes(bytes))}/128`);
      }),
      { seed: 5952, numRuns: 500 },
    );
  });

  /**
   * The address text of each parser that reads one (rule source, route gateway, address), for the same 16 bytes:
   * each attribute sits at another offset of its message.
   */
  const parsed6 = (bytes: Buffer): string[] => {
    const rtmsg = Buffer.from([AF.INET6, 0, 0, 0, 254, 0, 0, RTN_UNICAST, 0, 0, 0, 0]);
    const ifaddrmsg = Buffer.concat([Buffer.from([AF.INET6, 128, 0, 0]), u32(2)]);
    return [
      parseRule(Buffer.concat([ruleHdr(128, AF.INET6), nla(FRA.SRC, bytes)]))?.src.replace(/\/128$/, ''),
      parseRoute(Buffer.concat([rtmsg, nla(RTA.OIF, u32(2)), nla(RTA.GATEWAY, bytes)]), NAMES)?.gateway,
      parseAddress(Buffer.concat([ifaddrmsg, nla(IFA.LOCAL, bytes)]), NAMES)?.address.replace(/\/128$/, ''),
    ].map((text) => text ?? 'not parsed');
  };
  /** The 16 bytes of an address written as eight groups of hex, without the model's parser. */
  const groupsToBytes = (long: string) => {
    const groups = long.split(':');
    assert.equal(groups.length, 8, long);
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
    return b;
  };
  /** WHATWG URL serialises an IPv6 host in RFC 5952 form: an oracle that is not our code. */
  const canonical = (long: string) => new URL(`http://[${long}]/`).hostname.slice(1, -1);

  test('the parsers and the model format IPv6 alike (RFC 5952 section 4), tricky cases', () => {
    // RFC 5952 section 4: 4.1 no leading zeros; 4.2.1 `::` as long as it can be; 4.2.2 not for a single 0 group;
    // 4.2.3 the longest run, the first of equal runs; 4.3 lower case. An IPv4-mapped address (section 5 suggests a
    // dotted quad) is hex in both: parseIpv6 takes no dotted quad, and diff.ts compares the parsers' text with the model's.
    for (const [long, text] of [
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
      ['2001:db8:0:0:0:0:0:0', '2001:db8::'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['0:0:0:0:0:ffff:0102:0304', '::ffff:102:304'],
      ['0001:0:0:0:0:0:0:0', '1::'],
      ['0:0:1:0:0:0:0:0', '0:0:1::'],
      ['2001:0DB8:00A0:0B00:C000:0:0:00FF', '2001:db8:a0:b00:c000::ff'],
      ['FE80:0:0:0:ABCD:EF01:0:0', 'fe80::abcd:ef01:0:0'],
    ] as const) {
      assert.equal(canonical(long), text, `oracle, ${long}`);
      assert.equal(formatIpv6(parseIpv6(long) as bigint), text, `model, ${long}`);
      assert.deepEqual(parsed6(groupsToBytes(long)), [text, text, text], `parsers, ${long}`);
    }
  });

  test('the parsers and the model format IPv6 alike on random addresses rich in zero groups (RFC 5952 section 4)', () => {
    // Runs of zero groups of every length and place, ties among them; the other groups short and long hex.
    const random = prng(5952);
    const group = () => {
      const r = random();
      if (r < 0.6) return 0;
      if (r < 0.7) return 1;
      if (r < 0.8) return 0xff00;
      return Math.floor(random() * 0x10000);
    };
    for (let n = 0; n < 2000; n++) {
      const bytes = Buffer.alloc(16);
      for (let i = 0; i < 8; i++) bytes.writeUInt16BE(group(), 2 * i);
      const long = [...Array(8).keys()].map((i) => bytes.readUInt16BE(2 * i).toString(16)).join(':');
      const text = formatIpv6(ipv6FromBytes(bytes));
      assert.equal(text, canonical(long), `model, ${long}`);
      assert.deepEqual(parsed6(bytes), [text, text, text], `parsers, ${long}`);
    }
  });
});
