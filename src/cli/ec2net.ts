#!/usr/bin/env node
/**
 * ec2net SUBCOMMAND: inspection commands. `plan IFACE` prints what ec2ifup would make true, without changing
 * anything.
 */
import { linkWithMac, planFor } from '../agent/ifup.js';
import { describeAddress, describeRoute, describeRule } from '../model/state.js';
import { EXIT_OK, EXIT_USAGE, main } from './common.js';

const USAGE = 'usage: ec2net plan [--root DIR] [--json] IFACE\n\nplan   print the rules, routes, addresses and files ec2ifup would make true for IFACE; changes nothing';

const [sub, ...rest] = process.argv.slice(2);
if (sub === 'plan') {
  void main(
    {
      name: 'ec2net plan',
      usage: USAGE,
      ifaces: 1,
      flags: { json: { type: 'boolean' } },
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
        ];
        process.stdout.write(`${out.join('\n')}\n`);
        return EXIT_OK;
      },
    },
    rest,
  ).then((code) => (process.exitCode = code));
} else if (sub === '--help' || sub === '-h') {
  process.stdout.write(`${USAGE}\n`);
} else {
  process.stderr.write(`ec2net: ${sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub.slice(0, 32))}`}\n${USAGE}\n`);
  process.exitCode = EXIT_USAGE;
}
