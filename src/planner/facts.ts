/**
 * Facts the planner needs from the kernel's state, read from a snapshot (plain data, no I/O).
 */
import { isLinkLocal6 } from '../model/ipv6.js';
import { MAIN_TABLE, type Route } from '../model/state.js';

function isLinkLocalGateway(r: Route): boolean {
  return r.gateway !== undefined && isLinkLocal6(r.gateway);
}

/**
 * The IPv6 router of an ENI's subnet: the link-local gateway of the default route the kernel learned from
 * router advertisements on the interface. When that route has lapsed (an RA missed, its lifetime run out), the
 * gateway of the table's own default route stands: a router that has gone quiet has not moved, and a missed RA
 * must not take the ENI's IPv6 default route away.
 */
export function ipv6RouterOf(routes: readonly Route[], ifname: string, table: number, protocol: number): string | undefined {
  const isDefault = (r: Route) => r.family === 6 && r.dst === '::/0' && r.dev === ifname && isLinkLocalGateway(r);
  const learned = routes.find((r) => isDefault(r) && r.table === MAIN_TABLE && r.protocol !== protocol);
  return (learned ?? routes.find((r) => isDefault(r) && r.table === table && r.protocol === protocol))?.gateway;
}
