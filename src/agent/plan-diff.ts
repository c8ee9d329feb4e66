/**
 * `ec2net plan --diff`: what `ec2ifup` would change, against what is on disk and in the kernel now. Reads only;
 * runs without root, and says what it could not read then (ec2net's record of the addresses it added is root's).
 */
import { isEc2netError } from '../errors.js';
import { describeAddress, describeRoute, describeRule, type Link } from '../model/state.js';
import type { Plan } from '../planner/plan.js';
import { readText } from '../ports/files.js';
import { unconverged } from '../reconcile/converge.js';
import type { Changes } from '../reconcile/diff.js';
import { unifiedDiff } from '../reconcile/text-diff.js';
import type { AgentContext } from './context.js';
import { planFor, readRecord } from './ifup.js';

export interface FileDiff {
  readonly path: string;
  /** `unreadable`: the file could not be read (not root); what would be written is not compared. */
  readonly state: 'unchanged' | 'changed' | 'created' | 'unreadable';
  /** The unified diff from the file on disk to the planned one (changed, created). */
  readonly diff?: string;
}

export interface PlanDiff {
  readonly plan: Plan;
  readonly files: readonly FileDiff[];
  /** The rules, routes and addresses to add and remove. */
  readonly kernel: Changes;
  /** What the link itself lacks (up, DHCP's address, altnames): ec2ifup brings the link up and starts DHCP. */
  readonly link: readonly string[];
  /** What could not be read without root, and so is not shown. */
  readonly needsRoot?: readonly string[];
}

/** Without ec2net's record the addresses it added earlier are not known, so none is shown as removed. */
const RECORD_NEEDS_ROOT = "secondary addresses ec2net added earlier and IMDS no longer lists (ec2net's record in /run/ec2net/state)";

async function fileDiff(path: string, planned: string): Promise<FileDiff> {
  let current: string | undefined;
  try {
    current = await readText(path);
  } catch (e) {
    if (isEc2netError(e, 'PermissionDenied')) return { path, state: 'unreadable' };
    throw e;
  }
  const diff = unifiedDiff(path, current, planned);
  if (diff === '') return { path, state: 'unchanged' };
  return { path, state: current === undefined ? 'created' : 'changed', diff };
}

export async function planDiff(ctx: AgentContext, link: Link): Promise<PlanDiff> {
  const snap = await ctx.kernel.snapshot();
  const { plan } = await planFor(ctx, link, snap);
  let owned: readonly string[] = [];
  let needsRoot: string[] | undefined;
  try {
    const record = await readRecord(ctx, link.mac);
    // A record of another name is another interface's: ec2ifup owns nothing of it here either.
    if (record?.ifname === link.name) owned = record.addresses;
  } catch (e) {
    if (!isEc2netError(e, 'PermissionDenied')) throw e;
    needsRoot = [RECORD_NEEDS_ROOT];
  }
  const files = await Promise.all(plan.files.map((f) => fileDiff(f.path, f.content)));
  if (files.some((f) => f.state === 'unreadable')) (needsRoot ??= []).push('files that only root can read');
  const { changes, link: problems } = unconverged(plan, snap, { protocol: ctx.config.settings.protocol, ownedAddresses: new Set(owned) });
  return { plan, files, kernel: changes, link: problems, ...(needsRoot ? { needsRoot } : {}) };
}

/**
 * The diff as text: the files as diff -u shows them; the kernel's rules, routes and addresses to add (+) and remove
 * (-), and those whose slot another owner holds (!, left alone); what the link lacks (~).
 */
export function formatPlanDiff(d: PlanDiff): string {
  const p = d.plan;
  const out = [`interface ${p.ifname} mac ${p.mac} eni ${p.eniId} table ${p.table}`];
  if (p.skip) return `${[...out, `skipped: ${p.skip}`].join('\n')}\n`;
  if (d.files.length > 0) out.push('files:');
  for (const f of d.files) {
    if (f.diff !== undefined) out.push(f.diff.trimEnd());
    else out.push(`${f.state === 'unchanged' ? 'unchanged' : 'unreadable (not root)'}: ${f.path}`);
  }
  const k = d.kernel;
  const kernel = [
    ...k.addRules.map((r) => `+ rule    ${describeRule(r)}`),
    ...k.delRules.map((r) => `- rule    ${describeRule(r)}`),
    ...k.addRoutes.map((r) => `+ route   ${describeRoute(r)}`),
    ...k.delRoutes.map((r) => `- route   ${describeRoute(r)}`),
    ...k.addAddresses.map((a) => `+ address ${describeAddress(a)}`),
    ...k.delAddresses.map((a) => `- address ${describeAddress(a)}`),
    ...k.conflicts.map((r) => `! route   ${describeRoute(r)} (its slot is held by another owner's route: left alone)`),
  ];
  if (kernel.length > 0) out.push('kernel:', ...kernel);
  if (d.link.length > 0) out.push('link:', ...d.link.map((l) => `~ ${l}`));
  if (kernel.length === 0 && d.link.length === 0 && d.files.every((f) => f.state === 'unchanged')) out.push('nothing to change');
  if (d.needsRoot) out.push('not root: not shown (run as root for it):', ...d.needsRoot.map((n) => `  - ${n}`));
  return `${out.join('\n')}\n`;
}
