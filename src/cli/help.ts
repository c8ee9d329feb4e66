/**
 * What every command's --help says after its own usage: the environment it reads, the files, and the exit
 * statuses, the last from the one table of kinds (errors.ts), so that help and behaviour cannot disagree.
 */
import { EXIT_OK, KINDS, type ErrorKind } from '../errors.js';

/** The EC2NET_* variables every command reads, with what each sets. */
export const ENVIRONMENT: Readonly<Record<string, string>> = {
  EC2NET_ROOT: 'DIR: prefix every path under /etc and /run with DIR (as --root)',
  EC2NET_IMDS_URL: 'http://HOST[:PORT]: the metadata endpoint; http://[fd00:ec2::254] stays the fallback',
  EC2NET_LOG_LEVEL: 'trace, debug, info (the default), warn, error, fatal or silent',
  EC2NET_LOG_FORMAT: 'json, text or journal; unset: text on a terminal, journal under systemd, json otherwise',
  EC2NET_DHCLIENT_SCRIPT: 'the script dhclient runs (/usr/libexec/ec2net/ec2net-dhclient-script)',
  EC2NET_CACHE_DIR: "where the installed commands keep V8's code cache (/var/cache/ec2net)",
};

/** The daemon's own: read by ec2netd only. */
export const DAEMON_ENVIRONMENT: Readonly<Record<string, string>> = {
  EC2NET_REFRESH_SECONDS: 'the refresh period, 0.5 to 86400 seconds (60)',
};

const FILES: Readonly<Record<string, string>> = {
  '/etc/ec2net/ec2net.conf': 'settings, see ec2net.conf(5); unknown keys are refused',
  '/run/ec2net/': "per-ENI records, locks and the daemon's socket (root's only)",
};

function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`);
}

/** The exit statuses, in order: success, then the kinds' codes, grouped by whether a retry can help. */
export function exitStatusLines(): string[] {
  const kinds = (Object.entries(KINDS) as [ErrorKind, (typeof KINDS)[ErrorKind]][]).sort((a, b) => a[1].exit - b[1].exit);
  const width = Math.max(...kinds.map(([kind]) => kind.length)) + 2;
  const line = (code: number, kind: string, means: string) => `  ${String(code).padStart(2)}  ${kind.padEnd(width)}${means}`.trimEnd();
  const rows = (pick: (f: (typeof KINDS)[ErrorKind]) => boolean) => kinds.filter(([, f]) => pick(f)).map(([kind, f]) => line(f.exit, kind, f.means));
  return [
    line(EXIT_OK, 'success', ''),
    ...rows((f) => f.exit < 20),
    '  retry later (a run shortly after can succeed):',
    ...rows((f) => f.retryable),
    '  will not work until something changes:',
    ...rows((f) => f.exit >= 20 && !f.retryable),
  ];
}

/** The part of --help after a command's usage; `page` is its man page, `environment` what it reads beyond the common. */
export function helpEpilogue(page: string, environment: Readonly<Record<string, string>> = {}): string {
  return [
    '',
    'Environment:',
    ...table(Object.entries({ ...ENVIRONMENT, ...environment })),
    '',
    'Files:',
    ...table(Object.entries(FILES)),
    '',
    'Exit status (a failure\'s log line names its kind):',
    ...exitStatusLines(),
    '',
    `See ${page}(8), TROUBLESHOOTING: journalctl -u ec2netd, ec2net status, ec2net plan --diff IFACE.`,
  ].join('\n');
}
