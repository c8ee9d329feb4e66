/**
 * Notification decoding of netlink-events.ts, on bytes only: the notifications a real kernel sent for the changes
 * listed in test/fixtures/rtnl/README.md (captured from kernel 6.18.44 with iproute2 6.1.0 by capture.ts there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, type KernelEvent } from '../../src/ports/netlink-events.js';
import { AF, RTM } from '../../src/ports/netlink-constants.js';
import { eachMessage } from '../../src/ports/rtnl-parse.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/rtnl/', import.meta.url));

function decode(datagrams: Buffer[]): Array<KernelEvent | undefined> {
  const out: Array<KernelEvent | undefined> = [];
  for (const buf of datagrams) eachMessage(buf, (type, _flags, _seq, start, end) => out.push(parse(type, buf, start, end)));
  return out;
}

const captured = (name: string) => readFileSync(`${FIXTURES}${name}.hex`, 'utf8').trim().split('\n').map((l) => Buffer.from(l, 'hex'));

test('captured notifications decode to the changes that caused them, in order', () => {
  // eth1 is index 2, eth2 index 3; protocol 2 is RTPROT_KERNEL, table 255 RT_TABLE_LOCAL (<linux/rtnetlink.h>):
  // the kernel adds and removes a local-table route with each address.
  const local = { kind: 'route', table: 255, protocol: 2, oif: 2 } as const;
  assert.deepEqual(decode(captured('events')), [
    { kind: 'rule', op: 'new', table: 10001, protocol: 236, src: '10.0.1.7/32' }, // ip rule add from 10.0.1.7 ...
    { kind: 'rule', op: 'del', table: 10001, protocol: 236, src: '2001:db8:1:0:1234::/80' }, // ip -6 rule del priority 10200
    { kind: 'address', op: 'new', index: 2, address: '10.0.1.7/32' },
    { ...local, op: 'new' },
    { kind: 'address', op: 'new', index: 2, address: '2001:db8:1::7/128' },
    { ...local, op: 'new' },
    { kind: 'route', op: 'new', table: 10001, protocol: 236, oif: 2 }, // 10.0.2.0/24 via 10.0.1.1
    { kind: 'route', op: 'del', table: 10001, protocol: 236, oif: 2 }, // IPv6 default via fe80::1
    { kind: 'address', op: 'del', index: 2, address: '10.0.1.6/32' },
    { ...local, op: 'del' },
    { kind: 'link', op: 'del', index: 3, name: 'eth2', mac: '02:00:00:00:10:02' },
  ]);
});

test('dump replies decode as "new" events too; messages that are not watched decode to nothing', () => {
  const kinds = (name: string) => new Set(decode(captured(name)).map((e) => (e ? `${e.kind} ${'op' in e ? e.op : ''}` : 'none')));
  // Each dump ends with NLMSG_DONE (3), which is not a notification.
  assert.deepEqual(kinds('link'), new Set(['link new', 'none']));
  assert.deepEqual(kinds('addr'), new Set(['address new', 'none']));
  assert.deepEqual(kinds('rule'), new Set(['rule new', 'none']));
  assert.deepEqual(kinds('route'), new Set(['route new', 'none']));
  // RTM_NEWNEIGH (28) is not subscribed to nor decoded, even with an otherwise valid payload.
  assert.equal(parse(28, Buffer.alloc(12, 2), 0, 12), undefined);
});

test('a route notification without RTA_TABLE or RTA_OIF takes the table from struct rtmsg and has no interface', () => {
  // rtmsg (<linux/rtnetlink.h>): AF_INET, dst_len 0, src_len 0, tos 0, table 254, protocol 3 (boot), scope 0, type 1.
  const rtmsg = Buffer.from([2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]);
  assert.deepEqual(parse(RTM.NEWROUTE, rtmsg, 0, rtmsg.length), { kind: 'route', op: 'new', table: 254, protocol: 3, oif: undefined });
  // With RTA_TABLE (15) = 10001, which a table above 255 needs, the attribute wins over the header's byte.
  const withTable = Buffer.concat([rtmsg, Buffer.from([8, 0, 15, 0]), Buffer.from(new Uint32Array([10001]).buffer)]);
  assert.deepEqual(parse(RTM.DELROUTE, withTable, 0, withTable.length), { kind: 'route', op: 'del', table: 10001, protocol: 3, oif: undefined });
});

test('an address or rule of a family ec2net does not track decodes to nothing', () => {
  // ifaddrmsg / fib_rule_hdr with family AF_BRIDGE (7, <linux/socket.h>); an IFA_LOCAL of 4 bytes follows.
  const addr = Buffer.from([7, 32, 0, 0, 2, 0, 0, 0, 8, 0, 2, 0, 10, 0, 1, 7]);
  assert.equal(parse(RTM.NEWADDR, addr, 0, addr.length), undefined);
  const rule = Buffer.from([7, 0, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0]);
  assert.equal(parse(RTM.NEWRULE, rule, 0, rule.length), undefined);
  // The same address as AF_INET does decode: the family byte is what left it out.
  addr[0] = AF.INET;
  assert.deepEqual(parse(RTM.DELADDR, addr, 0, addr.length), { kind: 'address', op: 'del', index: 2, address: '10.0.1.7/32' });
});
