#!/usr/bin/env node
import { BOOT_IMDS_WAIT_MS, scan } from '../agent/scan.js';
import { exitCodeOf, isEc2netError } from '../errors.js';
import { EXIT_OK, runMain } from './common.js';

runMain({
  name: 'ec2ifscan',
  usage: `usage: ec2ifscan [--boot] [--root DIR] [--verbose]

Configure every interface that is an ENI of this instance and is not configured yet.

  --boot   as at boot (ec2ifscan.service): wait up to ${BOOT_IMDS_WAIT_MS / 1000} s for IMDS to become reachable (the
           primary interface may get its address after the scan starts); if it does not, exit 0 and leave
           the ENIs to ec2netd, which configures them once IMDS answers

When interfaces fail, the exit status is that of the first failure a retry cannot help (30-39), else that of the
first (20-29); the log names each interface and its kind.`,
  ifaces: 0,
  flags: { boot: { type: 'boolean' } },
  async run(ctx, { flags }) {
    let result;
    try {
      result = await scan(ctx, { imdsWaitMs: flags.boot ? BOOT_IMDS_WAIT_MS : 0 });
    } catch (e) {
      // A late primary must not fail the boot: the daemon configures every ENI once IMDS answers.
      if (!flags.boot || !isEc2netError(e, 'Transient')) throw e;
      ctx.log.warn({ kind: e.kind, waitedMs: BOOT_IMDS_WAIT_MS, ...e.fields }, 'IMDS did not answer: ENIs are left to ec2netd');
      return EXIT_OK;
    }
    ctx.log.info(
      {
        configured: result.configured.map((r) => r.ifname),
        alreadyConfigured: result.alreadyConfigured,
        down: result.down,
        unmanaged: result.unmanaged,
        failed: result.failed.map((f) => f.ifname),
      },
      'scan finished',
    );
    return exitCodeOf(result.failed.map((f) => f.error));
  },
});
