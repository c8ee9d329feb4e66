/**
 * nftables rulesets for the VPC's source/destination check, one chain per ENI bridge port. Pure renderers; the
 * VPC applies them with `nft -f -` in its namespace.
 *
 * The hook is bridge prerouting: frames addressed to the router's own bridge address (IMDS, the gateway) take the
 * bridge's input path and never reach the forward hook.
 */
const TABLE = 'bridge vpc';

export interface PortCheck {
  /** Unique per ENI within the VPC; names the chain, set and counter. */
  index: number;
  /** The ENI's bridge port in the VPC namespace. */
  port: string;
  mac: string;
  /** Assigned IPv4 addresses and delegated IPv4 prefixes. */
  sources: readonly string[];
  /** Assigned IPv6 addresses and delegated IPv6 prefixes. */
  ipv6Sources: readonly string[];
}

export function counterName(index: number): string {
  return `drop_${index}`;
}

export function baseRuleset(): string {
  return `table ${TABLE} {
  map ports { type ifname : verdict; }
  chain prerouting {
    type filter hook prerouting priority filter; policy accept;
    iifname vmap @ports
  }
}
`;
}

/** Idempotent: creates or refreshes one port's check in a single transaction; the counter keeps its value. */
export function portRuleset(p: PortCheck): string {
  const set = `src_${p.index}`;
  const set6 = `src6_${p.index}`;
  const chain = `eni_${p.index}`;
  const counter = counterName(p.index);
  const lines = [
    `add set ${TABLE} ${set} { type ipv4_addr; flags interval; }`,
    `add set ${TABLE} ${set6} { type ipv6_addr; flags interval; }`,
    `add counter ${TABLE} ${counter}`,
    `add chain ${TABLE} ${chain}`,
    `flush set ${TABLE} ${set}`,
    ...(p.sources.length > 0 ? [`add element ${TABLE} ${set} { ${p.sources.join(', ')} }`] : []),
    `flush set ${TABLE} ${set6}`,
    ...(p.ipv6Sources.length > 0 ? [`add element ${TABLE} ${set6} { ${p.ipv6Sources.join(', ')} }`] : []),
    `flush chain ${TABLE} ${chain}`,
    `add rule ${TABLE} ${chain} ether saddr != ${p.mac} counter name "${counter}" drop`,
    // a DHCP client has no address yet
    `add rule ${TABLE} ${chain} ip saddr 0.0.0.0 udp sport 68 udp dport 67 return`,
    `add rule ${TABLE} ${chain} ip saddr != @${set} counter name "${counter}" drop`,
    // neighbour discovery, router solicitation and DHCPv6 come from the link-local address; DAD from ::
    `add rule ${TABLE} ${chain} ip6 saddr fe80::/10 return`,
    `add rule ${TABLE} ${chain} ip6 saddr :: return`,
    `add rule ${TABLE} ${chain} ip6 saddr != @${set6} counter name "${counter}" drop`,
    `add element ${TABLE} ports { "${p.port}" : jump ${chain} }`,
  ];
  return `${lines.join('\n')}\n`;
}

export function removePortRuleset(index: number, port: string): string {
  return [
    `delete element ${TABLE} ports { "${port}" }`,
    `delete chain ${TABLE} eni_${index}`,
    `delete set ${TABLE} src_${index}`,
    `delete set ${TABLE} src6_${index}`,
    `delete counter ${TABLE} ${counterName(index)}`,
  ].join('\n') + '\n';
}

export function counterQuery(index: number): string[] {
  return ['nft', '-j', 'list', 'counter', ...TABLE.split(' '), counterName(index)];
}

/** Packets counted by `nft -j list counter …`. */
export function parseCounterPackets(json: string): number {
  const parsed = JSON.parse(json) as { nftables?: Array<{ counter?: { packets?: number } }> };
  const packets = parsed.nftables?.find((o) => o.counter)?.counter?.packets;
  if (typeof packets !== 'number') throw new Error(`no counter in nft output: ${json}`);
  return packets;
}
