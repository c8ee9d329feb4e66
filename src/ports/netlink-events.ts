/**
 * rtnetlink notifications as plain events: links appearing and going, and addresses, rules and routes being
 * added or deleted. udev events get lost (a boot-time udevd restart drops them), so the daemon watches the
 * kernel itself. Multicast notifications can overflow the socket buffer; an `overflow` event then tells the
 * daemon to resynchronise from a full dump.
 */
import { createRtNetlink, rt, type RtNetlinkSocket } from 'netlink';
import { formatIpv4 } from '../model/ipv4.js';
import { formatIpv6, ipv6FromBytes } from '../model/ipv6.js';

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

const RTM = { NEWLINK: 16, DELLINK: 17, NEWADDR: 20, DELADDR: 21, NEWROUTE: 24, DELROUTE: 25, NEWRULE: 32, DELRULE: 33 } as const;
const AF_INET = 2;
const AF_INET6 = 10;

function tracked(family: number | undefined): boolean {
  return family === AF_INET || family === AF_INET6;
}

function macOf(b: Buffer | undefined): string {
  return b && b.length === 6 ? [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') : '00:00:00:00:00:00';
}

function ip(b: Buffer | undefined): string | undefined {
  if (b?.length === 4) return formatIpv4(b.readUInt32BE(0));
  if (b?.length === 16) return formatIpv6(ipv6FromBytes(b));
  return undefined;
}

function protocolNumber(p: unknown): number {
  if (typeof p === 'number') return p;
  const n = typeof p === 'string' ? (rt.RouteProtocol as unknown as Record<string, unknown>)[p.toUpperCase()] : undefined;
  return typeof n === 'number' ? n : -1;
}

function parse(type: number, data: Buffer): KernelEvent | undefined {
  const op: Op = type === RTM.DELLINK || type === RTM.DELADDR || type === RTM.DELROUTE || type === RTM.DELRULE ? 'del' : 'new';
  switch (type) {
    case RTM.NEWLINK:
    case RTM.DELLINK: {
      const m = rt.parseLinkMessage(data);
      return { kind: 'link', op, index: m.data.index ?? 0, name: m.attrs.ifname ?? '', mac: macOf(m.attrs.address) };
    }
    case RTM.NEWADDR:
    case RTM.DELADDR: {
      const m = rt.parseAddressMessage(data);
      if (!tracked(m.data.family)) return undefined;
      const addr = ip(m.attrs.local ?? m.attrs.address);
      return addr ? { kind: 'address', op, index: m.data.index ?? 0, address: `${addr}/${m.data.prefixlen ?? 0}` } : undefined;
    }
    case RTM.NEWRULE:
    case RTM.DELRULE: {
      const m = rt.parseRuleMessage(data);
      if (!tracked(m.data.family)) return undefined;
      return {
        kind: 'rule',
        op,
        table: m.attrs.table ?? m.data.table ?? 0,
        protocol: m.attrs.protocol ?? 0,
        src: `${ip(m.attrs.src) ?? (m.data.family === AF_INET ? '0.0.0.0' : '::')}/${m.data.srcLen ?? 0}`,
      };
    }
    case RTM.NEWROUTE:
    case RTM.DELROUTE: {
      const m = rt.parseRouteMessage(data);
      if (!tracked(m.data.family)) return undefined;
      return { kind: 'route', op, table: m.attrs.table ?? m.data.table ?? 0, protocol: protocolNumber(m.data.protocol), oif: m.attrs.oif };
    }
    default:
      return undefined;
  }
}

/** Subscribes to link notifications and to address, route and rule notifications of both families. */
export function subscribeKernelEvents(listener: (e: KernelEvent) => void): EventSource {
  // A large receive buffer makes overflow rare when dozens of ENIs change at once; overflow is still handled.
  const sock: RtNetlinkSocket = createRtNetlink({ ref: true, recvBufferSize: 4 << 20, sendBufferSize: 64 << 10 });
  for (const group of ['LINK', 'IPV4_IFADDR', 'IPV4_ROUTE', 'IPV4_RULE', 'IPV6_IFADDR', 'IPV6_ROUTE', 'IPV6_RULE'] as const) sock.addMembership(group);
  sock.socket.on('message', (msgs) => {
    for (const m of msgs) {
      let event: KernelEvent | undefined;
      try {
        event = parse(m.type, m.data);
      } catch (e) {
        event = { kind: 'overflow', reason: `unparsable notification: ${e instanceof Error ? e.message : String(e)}` };
      }
      if (event) listener(event);
    }
  });
  sock.socket.on('error', (e) => listener({ kind: 'overflow', reason: e.code ?? e.message }));
  return { close: () => sock.socket.socket.close() };
}
