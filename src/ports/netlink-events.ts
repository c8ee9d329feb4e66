/**
 * rtnetlink notifications as plain events: links appearing and going, and addresses, rules and routes being
 * added or deleted. udev events get lost (a boot-time udevd restart drops them), so the daemon watches the
 * kernel itself. Multicast notifications can overflow the socket buffer; an `overflow` event then tells the
 * daemon to resynchronise from a full dump.
 */
import { RawNetlinkSocket } from 'netlink/dist/raw.js';
import { eachMessage, parseAddressEvent, parseLink, parseRouteEvent, parseRule } from './rtnl-parse.js';
import { NETLINK_ROUTE, RTM, RTNLGRP } from './netlink-constants.js';
import type { KernelWatch } from './kernel.js';

export type Op = 'new' | 'del';

export type KernelEvent =
  | { readonly kind: 'link'; readonly op: Op; readonly index: number; readonly name: string; readonly mac: string }
  | { readonly kind: 'address'; readonly op: Op; readonly index: number; readonly address: string }
  | { readonly kind: 'rule'; readonly op: Op; readonly table: number; readonly protocol: number; readonly src: string }
  | { readonly kind: 'route'; readonly op: Op; readonly table: number; readonly protocol: number; readonly oif: number | undefined }
  | { readonly kind: 'overflow'; readonly reason: string };

export interface EventSource {
  close(): void;
}

/** The groups joined: links, and addresses, routes and rules of both families. */
export const GROUPS: readonly number[] = [
  RTNLGRP.LINK,
  RTNLGRP.IPV4_IFADDR,
  RTNLGRP.IPV4_ROUTE,
  RTNLGRP.IPV4_RULE,
  RTNLGRP.IPV6_IFADDR,
  RTNLGRP.IPV6_ROUTE,
  RTNLGRP.IPV6_RULE,
];

/** One notification message (its type and payload [start, end)) as an event; undefined for what is not watched. */
export function parse(type: number, buf: Buffer, start: number, end: number): KernelEvent | undefined {
  const op: Op = type === RTM.DELLINK || type === RTM.DELADDR || type === RTM.DELROUTE || type === RTM.DELRULE ? 'del' : 'new';
  switch (type) {
    case RTM.NEWLINK:
    case RTM.DELLINK: {
      const l = parseLink(buf, start, end);
      return l ? { kind: 'link', op, index: l.index, name: l.name, mac: l.mac } : undefined;
    }
    case RTM.NEWADDR:
    case RTM.DELADDR: {
      const a = parseAddressEvent(buf, start, end);
      return a ? { kind: 'address', op, index: a.index, address: a.address } : undefined;
    }
    case RTM.NEWRULE:
    case RTM.DELRULE: {
      const r = parseRule(buf, start, end);
      return r ? { kind: 'rule', op, table: r.table, protocol: r.protocol, src: r.src } : undefined;
    }
    case RTM.NEWROUTE:
    case RTM.DELROUTE: {
      const r = parseRouteEvent(buf, start, end);
      return r ? { kind: 'route', op, ...r } : undefined;
    }
    default:
      return undefined;
  }
}

/** Subscribes to link notifications and to address, route and rule notifications of both families. */
export function subscribeKernelEvents(listener: (e: KernelEvent) => void): EventSource {
  // A large receive buffer makes overflow rare when dozens of ENIs change at once; overflow is still handled.
  // The socket stays referenced: it is what the daemon waits on.
  const sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 4 << 20, sendBufferSize: 64 << 10 });
  for (const group of GROUPS) sock.addMembership(group);
  sock.on('message', (buf: Buffer) => {
    eachMessage(buf, (type, _flags, _seq, start, end) => {
      let event: KernelEvent | undefined;
      try {
        event = parse(type, buf, start, end);
      } catch (e) {
        event = { kind: 'overflow', reason: `unparsable notification: ${e instanceof Error ? e.message : String(e)}` };
      }
      if (event) listener(event);
    });
  });
  sock.on('error', (e: NodeJS.ErrnoException) => listener({ kind: 'overflow', reason: e.code ?? e.message }));
  return { close: () => sock.close() };
}

/** The groups a wait watches: links, and addresses and routes of both families (DHCP's lease, an RA's route). */
const WATCH_GROUPS: readonly number[] = [RTNLGRP.LINK, RTNLGRP.IPV4_IFADDR, RTNLGRP.IPV4_ROUTE, RTNLGRP.IPV6_IFADDR, RTNLGRP.IPV6_ROUTE];

/** A watch on links, addresses and routes (KernelPort.watch). */
export function watchKernel(): KernelWatch {
  const sock = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 1 << 20, sendBufferSize: 4 << 10 });
  for (const group of WATCH_GROUPS) sock.addMembership(group);
  let seen = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    seen = true;
    wake?.();
  };
  sock.on('message', notify);
  sock.on('error', notify);
  // Nothing is waited on between calls: the socket keeps no command alive by itself.
  sock.unref();
  return {
    changed(withinMs) {
      if (seen) {
        seen = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          seen = false;
          resolve();
        };
        const timer = setTimeout(done, withinMs);
        wake = done;
      });
    },
    close: () => sock.close(),
  };
}
