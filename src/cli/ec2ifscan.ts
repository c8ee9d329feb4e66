#!/usr/bin/env node
import { scan } from '../agent/scan.js';
import { EXIT_FAILED, EXIT_OK, runMain } from './common.js';

runMain({
  name: 'ec2ifscan',
  usage: 'usage: ec2ifscan [--root DIR] [--verbose]\n\nConfigure every interface that is an ENI of this instance and is not configured yet.',
  ifaces: 0,
  async run(ctx) {
    const result = await scan(ctx);
    ctx.log.info(
      {
        configured: result.configured.map((r) => r.ifname),
        alreadyConfigured: result.alreadyConfigured,
        failed: result.failed.map((f) => f.ifname),
      },
      'scan finished',
    );
    return result.failed.length === 0 ? EXIT_OK : EXIT_FAILED;
  },
});
