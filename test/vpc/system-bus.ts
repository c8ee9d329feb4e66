/**
 * A private system D-Bus for a harness's daemons (networkd, NetworkManager), started inside the harness's own
 * mount namespace so that its socket at /run/dbus/system_bus_socket is the harness's, never the machine's.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, run } from './proc.js';

export const BUS_SOCKET = '/run/dbus/system_bus_socket';
const DBUS_START_TIMEOUT_MS = 5_000;

/**
 * The policy of /usr/share/dbus-1/system.conf without its user switch, fork, syslog and service activation (an
 * activation request would go to a systemd that is not on this bus), plus the services' own policies from
 * /usr/share/dbus-1/system.d (networkd may own org.freedesktop.network1 as systemd-network, NetworkManager
 * org.freedesktop.NetworkManager as root).
 */
const DBUS_CONFIG = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=${BUS_SOCKET}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
</busconfig>
`;

/**
 * Starts dbus-daemon through `enter` (which wraps an argv so that it runs in the harness's namespaces); its config
 * goes to `base`.
 */
export async function startSystemBus(base: string, enter: (argv: readonly string[]) => string[]): Promise<Daemon> {
  const config = join(base, 'dbus-system.conf');
  writeFileSync(config, DBUS_CONFIG);
  // --print-address prints once the socket listens
  const argv = enter(['dbus-daemon', `--config-file=${config}`, '--nofork', '--nopidfile', '--print-address']);
  return Daemon.start('dbus-daemon', argv, (d) => d.log.includes('unix:path='), DBUS_START_TIMEOUT_MS);
}

/** The pid of the process that owns `name` on the bus, as the bus sees it (through `enter`). */
export async function busOwnerPid(enter: (argv: readonly string[]) => string[], name: string): Promise<number | undefined> {
  const r = await run(enter(['busctl', '--system', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetConnectionUnixProcessID', 's', name]));
  const m = /^u (\d+)$/.exec(r.stdout.trim());
  return r.code === 0 && m ? Number(m[1]) : undefined;
}
