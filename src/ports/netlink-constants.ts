/**
 * The kernel's numbers for rtnetlink that the port (netlink-kernel.ts), its parsers (rtnl-parse.ts), its
 * notification reader (netlink-events.ts) and the tests and capture script share; each from the header named
 * beside it.
 */

/** <linux/netlink.h>: the protocol, struct nlmsghdr and struct nlattr sizes, message types and flags. */
export const NETLINK_ROUTE = 0;
export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
/** An attribute's type shares its 16 bits with the NLA_F_NESTED and NLA_F_NET_BYTEORDER flags. */
export const NLA_F_NESTED = 0x8000;
export const NLA_TYPE_MASK = 0x3fff;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

/** Address families: <linux/socket.h> in the kernel tree (<sys/socket.h> in user space). */
export const AF = { INET: 2, INET6: 10 } as const;

/** <linux/rtnetlink.h>: RTM_* message types. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWRULE: 32,
  DELRULE: 33,
  GETRULE: 34,
  NEWLINKPROP: 108,
} as const;

/** <linux/rtnetlink.h>: RTNLGRP_* multicast groups of notifications. */
export const RTNLGRP = { LINK: 1, IPV4_IFADDR: 5, IPV4_ROUTE: 7, IPV4_RULE: 8, IPV6_IFADDR: 9, IPV6_ROUTE: 11, IPV6_RULE: 19 } as const;

/** <linux/rtnetlink.h>: RTA_* route attributes. */
export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, TABLE: 15 } as const;

/** <linux/rtnetlink.h>: enum rt_class_t (table ids; a table above 255 travels in RTA_TABLE / FRA_TABLE). */
export const RT_TABLE = { UNSPEC: 0, LOCAL: 255 } as const;

/** <linux/rtnetlink.h>: enum rt_scope_t. */
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253 } as const;

/** <linux/rtnetlink.h>: the RTN_* route type of an ordinary route. */
export const RTN_UNICAST = 1;

/** <linux/rtnetlink.h>: the protocol of routes the kernel learned from router advertisements. */
export const RTPROT_RA = 9;

/** <linux/fib_rules.h>: FRA_* rule attributes. */
export const FRA = { SRC: 2, PRIORITY: 6, TABLE: 15, PROTOCOL: 21 } as const;

/** <linux/fib_rules.h>: the FR_ACT_* action of a `lookup TABLE` rule. */
export const FR_ACT_TO_TBL = 1;

/** <linux/if_addr.h>: IFA_* address attributes. */
export const IFA = { ADDRESS: 1, LOCAL: 2, FLAGS: 8 } as const;

/** <linux/if_addr.h>: IFA_F_* address flags (ifa_flags holds the low 8 bits, IFA_FLAGS all 32). */
export const IFA_F_NODAD = 0x02;
export const IFA_F_NOPREFIXROUTE = 0x200;

/** <linux/if_link.h>: IFLA_* link attributes; ALT_IFNAME is nested in PROP_LIST. */
export const IFLA = { ADDRESS: 1, IFNAME: 3, PROP_LIST: 52, ALT_IFNAME: 53 } as const;

/** <linux/if_arp.h>: ARPHRD_* link types (ifinfomsg's ifi_type). Every ENI is an Ethernet device. */
export const ARPHRD = { ETHER: 1, LOOPBACK: 772 } as const;

/** <linux/if.h>: the interface flag `ip link set up` sets. */
export const IFF_UP = 1;
