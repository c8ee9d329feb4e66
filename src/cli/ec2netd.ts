#!/usr/bin/env node
/**
 * ec2netd: the daemon. Tells systemd it is ready once the startup scan is done (Type=notify), serves `status` on
 * its control socket, and stops cleanly on SIGTERM or SIGINT.
 */
import { Compactor } from '../daemon/compactor.js';
import { Ec2netDaemon } from '../daemon/daemon.js';
import { Ec2netError } from '../errors.js';
import { interfaceStatus, type DaemonFacts } from '../agent/status.js';
import { childProcessCount } from '../ports/activation.js';
import { runChild } from '../ports/child.js';
import { controlPath, serveControl } from '../ports/control.js';
import { subscribeKernelEvents } from '../ports/netlink-events.js';
import { UDEV_WAIT_MS, awaitUdev } from '../ports/udev.js';
import { EXIT_OK, runMain } from './common.js';
import { DAEMON_ENVIRONMENT } from './help.js';

const DEFAULT_REFRESH_SECONDS = 60;
const CONCURRENCY = 4;
/** Events on a known link within this long become one job; a link that appears is configured at once. */
const DEBOUNCE_MS = 250;
/** Idle this long after a burst of work, then collect its garbage if the heap grew by more than COMPACT_BYTES. */
const COMPACT_DELAY_MS = 2_000;
const COMPACT_BYTES = 1024 * 1024;
/** Then once more this much later, for the pages the first collection emptied (see Compactor). */
const COMPACT_SETTLE_MS = 5_000;

function refreshSeconds(env: NodeJS.ProcessEnv): number {
  const raw = env.EC2NET_REFRESH_SECONDS;
  if (raw === undefined || raw === '') return DEFAULT_REFRESH_SECONDS;
  const n = Number(raw);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(raw) || n < 0.5 || n > 86_400) {
    throw new Ec2netError('Usage', 'EC2NET_REFRESH_SECONDS must be a number of seconds from 0.5 to 86400');
  }
  return n;
}

async function notifyReady(): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  await runChild(['systemd-notify', '--ready', `--pid=${process.pid}`], 5_000);
}

runMain({
  name: 'ec2netd',
  usage: 'usage: ec2netd [--root DIR] [--verbose]\n\nKeep every ENI of this instance configured: hotplug, refresh from IMDS, drift repair, detach cleanup.\nExits 0 once stopped by SIGTERM or SIGINT; any other status is a failure to start.',
  ifaces: 0,
  environment: DAEMON_ENVIRONMENT,
  longRunning: true,
  async run(ctx) {
    const scheduler = {
      after(ms: number, fn: () => void) {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
    };
    const cpuMicros = () => {
      const { user, system } = process.cpuUsage();
      return user + system;
    };
    // gc is there when node runs with --expose-gc, as ec2netd.service runs it.
    const gc = (globalThis as { gc?: () => void }).gc;
    const compactor: Compactor = new Compactor({
      gc: typeof gc === 'function' ? gc : undefined,
      heapUsed: () => process.memoryUsage().heapUsed,
      cpuMicros,
      scheduler,
      now: () => ctx.clock.now(),
      quiet: () => daemon.quiet(),
      delayMs: COMPACT_DELAY_MS,
      settleMs: COMPACT_SETTLE_MS,
      thresholdBytes: COMPACT_BYTES,
    });
    const daemon: Ec2netDaemon = new Ec2netDaemon(ctx, {
      refreshMs: refreshSeconds(process.env) * 1000,
      concurrency: CONCURRENCY,
      debounceMs: DEBOUNCE_MS,
      scheduler,
      subscribe: subscribeKernelEvents,
      cpuMicros,
      drained: () => compactor.idle(),
      deviceSettled: async (index, name) => {
        const settled = await awaitUdev(index, name, ctx.clock.sleep);
        if (settled === 'timeout') ctx.log.warn({ iface: name, waitedMs: UDEV_WAIT_MS }, 'udev has not recorded the device: configuring it anyway');
        return settled !== 'ready';
      },
    });
    const self = () => ({
      pid: process.pid,
      startedAt: daemon.startedAt,
      pending: daemon.pending(),
      childProcesses: childProcessCount(),
      rssBytes: process.memoryUsage.rss(),
      cpuMicros: (({ user, system }) => user + system)(process.cpuUsage()),
      // What keeps the event loop busy (Timeout, TCPSocketWrap, ...), by kind: leaked timers or sockets show here.
      activeResources: process.getActiveResourcesInfo().reduce<Record<string, number>>((acc, kind) => ({ ...acc, [kind]: (acc[kind] ?? 0) + 1 }), {}),
    });
    const server = await serveControl(controlPath(ctx.paths.runDir), async (request) => {
      // `stats`: the daemon's own counters and each ENI's last refresh, cheap enough to poll while measuring it.
      if (request === 'stats') {
        return {
          daemon: self(),
          // Where the resident memory is: V8's heap, and buffers outside it.
          memory: process.memoryUsage(),
          lastRound: daemon.lastRound(),
          compaction: compactor.figures(),
          lastRefresh: Object.fromEntries(daemon.status().map((s) => [s.mac, s.lastRefresh ?? 0])),
        };
      }
      if (request !== 'status') throw new Error('unknown request');
      const facts = new Map<string, DaemonFacts>(
        daemon.status().map((s) => [s.mac, { driftSeen: s.driftSeen, lastDriftAt: s.lastDriftAt, lastRefresh: s.lastRefresh, lastError: s.lastError }]),
      );
      return { daemon: self(), interfaces: await interfaceStatus(ctx, facts) };
    });
    const stopped = new Promise<void>((resolve) => {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
    });
    let signalled = false;
    await Promise.race([daemon.start(), stopped.then(() => (signalled = true))]);
    if (!signalled) await notifyReady();
    if (!signalled) {
      ctx.log.info({ interfaces: daemon.status().map((s) => s.ifname) }, 'ready');
      await stopped;
    }
    ctx.log.info('stopping');
    server.close();
    compactor.stop();
    await daemon.stop();
    return EXIT_OK;
  },
});
