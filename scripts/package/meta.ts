/**
 * What the .deb and the .rpm say about themselves, in one place: both control files are rendered from these.
 */

export const NAME = 'ec2net';

/** Package release on top of package.json's version (the -1 of 0.1.0-1). */
export const RELEASE = '1';

export const MAINTAINER = 'ec2net maintainers <maintainers@users.noreply.r-seed-1348710d.example>';

/**
 * The oldest nodejs the package runs on, the one the booted test runs it with: Debian 12's 18.19 (README and
 * package.json's engines say the same). Amazon Linux 2023's nodejs is 18.x and its nodejs20 is 20.x.
 */
export const MIN_NODE = '18.19';

export const SUMMARY = 'network agent for EC2 instances with several network interfaces';

/** Paragraphs of the long description, unwrapped. */
export const DESCRIPTION = [
  'ec2net gives every Elastic Network Interface (ENI) of an EC2 instance its own routing table and a source ' +
    'policy rule for each of its addresses and delegated prefixes, adds its secondary private IPv4 addresses, ' +
    'and writes the persistent network configuration, so that replies from every address leave through the ' +
    'interface that owns it. The daemon, ec2netd, follows hotplug, changes in the instance metadata and drift.',
  'It replaces ec2-net-utils: ec2ifup, ec2ifdown and ec2ifscan work as they did, and the ifcfg, route and ' +
    'dhclient files are the ones ec2-net-utils wrote.',
];

/**
 * Distribution packages the agent runs, by packaging format.
 *
 * Only the ifcfg backend runs dhclient (initscripts' ifup, or ec2net's own client); the networkd backend leaves DHCP
 * to systemd-networkd and the nm backend to NetworkManager's internal client. RHEL 9 images run NetworkManager and
 * install no dhclient (dhcp-client is optional there), Amazon Linux 2023 runs systemd-networkd: the rpm requires
 * one of the three, as a rich dependency (rpm 4.13 and later; RHEL 8's is 4.14). There is no Recommends: dnf
 * installs weak dependencies by default, and recommending NetworkManager would start a second network stack beside
 * networkd on Amazon Linux 2023, while the nm backend needs no NetworkManager package or configuration beyond what
 * runs NetworkManager (nmcli is in RHEL's NetworkManager package; the profile is a runtime keyfile).
 * Debian's packages keep isc-dhcp-client: Debian 12 without networkd or NetworkManager is the ifcfg backend's.
 */
export const RUNTIME_DEPENDS = {
  deb: [`nodejs (>= ${MIN_NODE})`, 'iproute2', 'isc-dhcp-client'],
  rpm: [`nodejs >= ${MIN_NODE}`, 'iproute', '(dhclient or NetworkManager or systemd-networkd)'],
} as const;

/** Both manage the same interfaces with the same table numbers: two agents would fight over them. */
export const CONFLICTS = {
  deb: ['amazon-ec2-net-utils'],
  rpm: ['ec2-net-utils', 'amazon-ec2-net-utils'],
} as const;

/** Wraps one paragraph at `width` columns. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}
