/**
 * Opt-in (SET_HOSTNAME=yes): name an unnamed system after IMDS `local-hostname`. A hostname the admin or the image
 * set is never replaced, and neither a Transient nor a malformed answer changes anything.
 */
import { Ec2netError } from '../errors.js';
import { parseHostname } from '../model/validate.js';
import { readText, writeAtomic } from '../ports/files.js';
import type { AgentContext } from './context.js';

/** What a system without a name of its own reports. */
const PLACEHOLDERS = new Set(['', 'localhost', 'localhost.localdomain', '(none)']);

export type HostnameOutcome = 'disabled' | 'kept' | 'set';

export async function maybeSetHostname(ctx: AgentContext): Promise<HostnameOutcome> {
  if (!ctx.config.setHostname) return 'disabled';
  const current = await ctx.kernel.hostname();
  if (!PLACEHOLDERS.has(current)) {
    ctx.log.debug({ hostname: current }, 'the system has a hostname: left as it is');
    return 'kept';
  }
  const answer = await ctx.imds().get('local-hostname');
  if (answer.kind !== 'found') {
    throw new Ec2netError('Transient', 'IMDS did not give local-hostname', { key: 'local-hostname', ...(answer.kind === 'transient' ? { reason: answer.reason } : {}) });
  }
  const name = parseHostname(answer.body);
  if (!name) {
    throw new Ec2netError('InvalidMetadata', 'IMDS value refused: not a hostname', { key: 'local-hostname', value: JSON.stringify(answer.body.slice(0, 64)) });
  }
  await ctx.kernel.setHostname(name);
  // /etc/hostname keeps it across reboots unless the image already names the system there.
  const persisted = (await readText(ctx.paths.hostnameFile))?.trim() ?? '';
  if (PLACEHOLDERS.has(persisted)) await writeAtomic({ path: ctx.paths.hostnameFile, content: `${name}\n`, mode: 0o644 });
  ctx.log.info({ hostname: name }, 'hostname set from IMDS local-hostname');
  return 'set';
}
