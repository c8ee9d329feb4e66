/**
 * The packaged agent's one entry point, bundled into /usr/libexec/ec2net/ec2net.cjs. The commands on PATH are
 * symlinks to it and it runs the one its name says (node keeps the symlink's path in argv[1] and resolves
 * import.meta.url, which the bundle defines, to the bundle itself). Only that command's modules are evaluated:
 * esbuild turns these dynamic imports into lazy initialisers inside the one file, node's built-ins included.
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const COMMANDS: Record<string, () => Promise<unknown>> = {
  ec2ifup: () => import('../../src/cli/ec2ifup.js'),
  ec2ifdown: () => import('../../src/cli/ec2ifdown.js'),
  ec2ifscan: () => import('../../src/cli/ec2ifscan.js'),
  ec2netd: () => import('../../src/cli/ec2netd.js'),
  ec2net: () => import('../../src/cli/ec2net.js'),
};

const EXIT_USAGE = 2;

// The checkout's default dhclient script path is relative to the source tree; the package installs the script
// beside the bundle in /usr/libexec/ec2net (scripts/package/layout.ts), which holds inside an unpacked package
// root too. An admin's EC2NET_DHCLIENT_SCRIPT still wins.
process.env.EC2NET_DHCLIENT_SCRIPT ||= fileURLToPath(new URL('./ec2net-dhclient-script', import.meta.url));

let name = basename(process.argv[1] ?? '');
if (!Object.hasOwn(COMMANDS, name)) {
  // Run directly (node /usr/libexec/ec2net/ec2net.cjs COMMAND ARGS...): the command's own argument parsing must see
  // exactly what it would see when run by its name.
  name = process.argv[2] ?? '';
  process.argv.splice(2, 1);
}
const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
if (load) {
  // The command runs itself once loaded (runMain); a CommonJS bundle has no top-level await.
  void load();
} else {
  process.stderr.write(`ec2net.cjs: run as one of ${Object.keys(COMMANDS).join(', ')}, or with one of them as the first argument\n`);
  process.exitCode = EXIT_USAGE;
}
