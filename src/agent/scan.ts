/**
 * ec2ifscan: configure every interface that is an ENI (its MAC is listed by IMDS) and is not configured yet
 * (no record of a converged run since boot, or the link is down).
 */
import { listEniMacs } from '../imds/eni.js';
import { parseIfname } from '../model/validate.js';
import type { AgentContext } from './context.js';
import { ifup, readRecord, type IfupResult } from './ifup.js';

/** Interfaces configured at once; each holds its own lock, so they never block each other. */
export const SCAN_CONCURRENCY = 4;

export interface ScanResult {
  readonly configured: IfupResult[];
  readonly alreadyConfigured: string[];
  readonly failed: { ifname: string; error: unknown }[];
}

export async function scan(ctx: AgentContext): Promise<ScanResult> {
  const [links, macs] = await Promise.all([ctx.kernel.links(), listEniMacs(ctx.imds())]);
  const eniMacs = new Set(macs);
  const candidates = links.filter((l) => eniMacs.has(l.mac) && parseIfname(l.name));
  const todo: string[] = [];
  const alreadyConfigured: string[] = [];
  for (const l of candidates) {
    const record = await readRecord(ctx, l.mac);
    if (record?.ifname === l.name && record.converged && l.up) alreadyConfigured.push(l.name);
    else todo.push(l.name);
  }
  const configured: IfupResult[] = [];
  const failed: ScanResult['failed'] = [];
  const queue = [...todo];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      try {
        configured.push(await ifup(ctx, name));
      } catch (error) {
        ctx.log.error({ iface: name, err: error }, 'configuring interface failed');
        failed.push({ ifname: name, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SCAN_CONCURRENCY, queue.length) }, worker));
  return { configured, alreadyConfigured, failed };
}
