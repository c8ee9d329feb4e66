/**
 * ec2ifscan: configure every interface that is an ENI (its MAC is listed by IMDS) and is not configured yet
 * (no record of a converged run since boot, or the link is down).
 */
import { isEc2netError, toEc2netError } from '../errors.js';
import { listEniMacs } from '../imds/eni.js';
import { parseIfname } from '../model/validate.js';
import type { AgentContext } from './context.js';
import { ifup, readRecord, type IfupResult } from './ifup.js';

/** Interfaces configured at once; each holds its own lock, so they never block each other. */
export const SCAN_CONCURRENCY = 4;

/**
 * ec2ifscan at boot (ec2ifscan.service): the primary ENI may get its address after the scan starts, and until it
 * has one IMDS is unreachable (ENETUNREACH at once). How long the scan waits for IMDS to answer then.
 */
export const BOOT_IMDS_WAIT_MS = 120_000;
const IMDS_RETRY_MIN_MS = 500;
const IMDS_RETRY_MAX_MS = 5_000;

export interface ScanOptions {
  /** How long a Transient answer to the MAC listing (IMDS not reachable yet) is retried; 0: not at all. */
  readonly imdsWaitMs?: number;
}

export interface ScanResult {
  readonly configured: IfupResult[];
  readonly alreadyConfigured: string[];
  /** Taken down by ec2ifdown: left down (ec2ifup brings them back). */
  readonly down: string[];
  /** Left to another agent by UNMANAGED in ec2net.conf. */
  readonly unmanaged: string[];
  readonly failed: { ifname: string; error: unknown }[];
}

/** The MAC listing; Transient answers are retried, with a growing pause, until `waitMs` has passed. */
async function listMacs(ctx: AgentContext, waitMs: number): Promise<string[]> {
  const deadline = ctx.clock.now() + waitMs;
  let pause = IMDS_RETRY_MIN_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      const macs = await listEniMacs(ctx.imds());
      if (attempt > 0) ctx.log.info({ attempts: attempt + 1 }, 'IMDS answers');
      return macs;
    } catch (e) {
      if (!isEc2netError(e, 'Transient') || ctx.clock.now() + pause > deadline) throw e;
      if (attempt === 0) ctx.log.info({ reason: e.message, waitMs }, 'waiting for IMDS (the primary interface may not have its address yet)');
      await ctx.clock.sleep(pause);
      pause = Math.min(IMDS_RETRY_MAX_MS, pause * 2);
    }
  }
}

export async function scan(ctx: AgentContext, opts: ScanOptions = {}): Promise<ScanResult> {
  // The links after IMDS has answered: while it was waited for (at boot), interfaces may have appeared.
  const macs = await listMacs(ctx, opts.imdsWaitMs ?? 0);
  const links = await ctx.kernel.links();
  const eniMacs = new Set(macs);
  const candidates = links.filter((l) => eniMacs.has(l.mac) && parseIfname(l.name));
  const todo: string[] = [];
  const alreadyConfigured: string[] = [];
  const down: string[] = [];
  const unmanaged: string[] = [];
  for (const l of candidates) {
    const record = await readRecord(ctx, l.mac);
    if (record?.ifname === l.name && record.down) down.push(l.name);
    else if (record?.ifname === l.name && record.converged && l.up) alreadyConfigured.push(l.name);
    else todo.push(l.name);
  }
  const configured: IfupResult[] = [];
  const failed: ScanResult['failed'] = [];
  const queue = [...todo];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      try {
        const result = await ifup(ctx, name, { automatic: true });
        if (result.down) down.push(name);
        else if (result.unmanaged !== undefined) unmanaged.push(name);
        else configured.push(result);
      } catch (error) {
        ctx.log.error({ iface: name, kind: toEc2netError(error).kind, err: error }, 'configuring interface failed');
        failed.push({ ifname: name, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SCAN_CONCURRENCY, queue.length) }, worker));
  return { configured, alreadyConfigured, down, unmanaged, failed };
}
