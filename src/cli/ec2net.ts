#!/usr/bin/env node
/**
 * ec2net SUBCOMMAND: status, plan, cleanup and hostname.
 */
import { cleanupDetached } from '../agent/detach.js';
import { maybeSetHostname } from '../agent/hostname.js';
import { linkWithMac, planFor } from '../agent/ifup.js';
import { formatStatus, interfaceStatus, type InterfaceStatus } from '../agent/status.js';
import { describeAddress, describeRoute, describeRule } from '../model/state.js';
import { askControl, controlPath } from '../ports/control.js';
import { EXIT_OK, EXIT_USAGE, main, type Command } from './common.js';

const USAGE = `usage: ec2net status [--json] [--root DIR]
       ec2net plan [--json] [--root DIR] IFACE
       ec2net cleanup [--root DIR]
       ec2net hostname [--root DIR]

status   per ENI: id, device/card, table, addresses, rules and routes as the kernel holds them; with the daemon
         running also drift seen, last refresh and last error
plan     the rules, routes, addresses and files ec2ifup would make true for IFACE; changes nothing
cleanup  remove the rules, files and records of every ENI whose device is gone
hostname with SET_HOSTNAME=yes in ec2net.conf, name a system that has no hostname after IMDS local-hostname`;

const json = { json: { type: 'boolean' as const } };

const commands: Record<string, Command> = {
  status: {
    name: 'ec2net status',
    usage: USAGE,
    ifaces: 0,
    flags: json,
    async run(ctx, { flags }) {
      const answer = (await askControl(controlPath(ctx.paths.runDir), 'status')) as { daemon?: unknown; interfaces?: InterfaceStatus[] } | undefined;
      const running = Array.isArray(answer?.interfaces);
      const list = running ? (answer?.interfaces as InterfaceStatus[]) : await interfaceStatus(ctx);
      const doc = { daemonRunning: running, ...(running ? { daemon: answer?.daemon } : {}), interfaces: list };
      process.stdout.write(flags.json ? `${JSON.stringify(doc, null, 2)}\n` : formatStatus(list, running));
      return EXIT_OK;
    },
  },
  plan: {
    name: 'ec2net plan',
    usage: USAGE,
    ifaces: 1,
    flags: json,
    async run(ctx, { iface, flags }) {
      const { plan } = await planFor(ctx, await linkWithMac(ctx, iface as string));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
        return EXIT_OK;
      }
      const out = [
        `interface ${plan.ifname} mac ${plan.mac} eni ${plan.eniId} table ${plan.table}`,
        ...(plan.skip ? [`skipped: ${plan.skip}`] : []),
        ...plan.rules.map((r) => `rule    ${describeRule(r)}`),
        ...plan.routes.map((r) => `route   ${describeRoute(r)}`),
        ...plan.addresses.map((a) => `address ${describeAddress(a)}`),
        ...plan.files.map((f) => `file    ${f.path}`),
        ...plan.altnames.map((a) => `altname ${a}`),
      ];
      process.stdout.write(`${out.join('\n')}\n`);
      return EXIT_OK;
    },
  },
  cleanup: {
    name: 'ec2net cleanup',
    usage: USAGE,
    ifaces: 0,
    async run(ctx) {
      const macs = await cleanupDetached(ctx);
      ctx.log.info({ macs }, 'cleanup finished');
      return EXIT_OK;
    },
  },
  hostname: {
    name: 'ec2net hostname',
    usage: USAGE,
    ifaces: 0,
    async run(ctx) {
      ctx.log.debug({ outcome: await maybeSetHostname(ctx) }, 'hostname checked');
      return EXIT_OK;
    },
  },
};

const [sub, ...rest] = process.argv.slice(2);
const cmd = sub === undefined ? undefined : commands[sub];
if (cmd) {
  void main(cmd, rest).then((code) => (process.exitCode = code));
} else if (sub === '--help' || sub === '-h') {
  process.stdout.write(`${USAGE}\n`);
} else {
  process.stderr.write(`ec2net: ${sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub.slice(0, 32))}`}\n${USAGE}\n`);
  process.exitCode = EXIT_USAGE;
}
