#!/usr/bin/env node
/**
 * ec2net SUBCOMMAND: status, plan, cleanup and hostname.
 */
import { cleanupDetached } from '../agent/detach.js';
import { maybeSetHostname } from '../agent/hostname.js';
import { linkWithMac, planFor } from '../agent/ifup.js';
import { formatPlanDiff, planDiff } from '../agent/plan-diff.js';
import { formatStatus, statusReport } from '../agent/status.js';
import { describeAddress, describeRoute, describeRule } from '../model/state.js';
import { VERSION } from '../version.js';
import { EXIT_OK, EXIT_USAGE, main, type Command } from './common.js';
import { helpEpilogue } from './help.js';

const USAGE = `usage: ec2net status [--json] [--root DIR]
       ec2net plan [--diff] [--json] [--root DIR] IFACE
       ec2net cleanup [--root DIR]
       ec2net hostname [--root DIR]
       ec2net --help | --version

status   per ENI: id, device/card, table, addresses, rules and routes as the kernel holds them; with the daemon
         running also drift seen, last refresh and last error. Without root: what the kernel shows, and what
         needs root
plan     the rules, routes, addresses and files ec2ifup would make true for IFACE; changes nothing. --diff: what
         it would change, files as diff -u against the disk, and + (add), - (remove), ! (held by another owner,
         left alone) and ~ (the link: up, DHCP address, altnames) for the kernel
cleanup  remove the rules, files and records of every ENI whose device is gone
hostname with SET_HOSTNAME=yes in ec2net.conf, name a system that has no hostname after IMDS local-hostname

status and plan run without root; cleanup and hostname need it.`;

const json = { json: { type: 'boolean' as const } };
const HELP = `${USAGE}\n${helpEpilogue('ec2net')}\n`;

const commands: Record<string, Command> = {
  status: {
    name: 'ec2net status',
    usage: USAGE,
    ifaces: 0,
    flags: json,
    readOnly: true,
    async run(ctx, { flags }) {
      const report = await statusReport(ctx);
      // JSON has no undefined: null says "not known" (not root).
      const doc = { ...report, daemonRunning: report.daemonRunning ?? null };
      process.stdout.write(flags.json ? `${JSON.stringify(doc, null, 2)}\n` : formatStatus(report));
      return EXIT_OK;
    },
  },
  plan: {
    name: 'ec2net plan',
    usage: USAGE,
    ifaces: 1,
    flags: { ...json, diff: { type: 'boolean' } },
    readOnly: true,
    async run(ctx, { iface, flags }) {
      const link = await linkWithMac(ctx, iface as string);
      if (flags.diff) {
        const d = await planDiff(ctx, link);
        process.stdout.write(flags.json ? `${JSON.stringify(d, null, 2)}\n` : formatPlanDiff(d));
        return EXIT_OK;
      }
      const { plan } = await planFor(ctx, link);
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
  process.stdout.write(HELP);
} else if (sub === '--version') {
  process.stdout.write(`ec2net ${VERSION}\n`);
} else {
  process.stderr.write(`ec2net: ${sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub.slice(0, 32))}`}\n${USAGE}\n`);
  process.exitCode = EXIT_USAGE;
}
