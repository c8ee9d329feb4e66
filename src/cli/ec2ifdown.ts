#!/usr/bin/env node
import { ifdown } from '../agent/ifdown.js';
import { EXIT_OK, runMain } from './common.js';

runMain({
  name: 'ec2ifdown',
  usage: 'usage: ec2ifdown [--root DIR] [--verbose] IFACE\n\nDeactivate IFACE and remove its source rules, its table routes and the secondary addresses ec2net added.',
  ifaces: 1,
  async run(ctx, { iface }) {
    await ifdown(ctx, iface as string);
    return EXIT_OK;
  },
});
