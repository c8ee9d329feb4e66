#!/usr/bin/env node
import { ifup } from '../agent/ifup.js';
import { EXIT_OK, runMain } from './common.js';

runMain({
  name: 'ec2ifup',
  usage: 'usage: ec2ifup [--root DIR] [--verbose] IFACE\n\nConfigure and activate the ENI interface IFACE; exit 0 once it is converged and verified.',
  ifaces: 1,
  async run(ctx, { iface }) {
    await ifup(ctx, iface as string);
    return EXIT_OK;
  },
});
