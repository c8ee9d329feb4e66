/**
 * The Environment= and node flags of one of the shipped units, so that tests and the benchmark run a program as its
 * unit does. Takes the one-assignment-per-line form the units use (`Environment=KEY=VALUE`, quoted when VALUE has
 * spaces), and an ExecStart= that runs `/usr/bin/node FLAGS... COMMAND`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SYSTEMD = fileURLToPath(new URL('../../../systemd/', import.meta.url));

export function unitEnvironment(unit: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(`${SYSTEMD}${unit}`, 'utf8').split('\n')) {
    const m = /^Environment=(.*)$/.exec(line);
    if (!m) continue;
    const raw = m[1] as string;
    const assignment = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    const eq = assignment.indexOf('=');
    if (eq <= 0 || (!raw.startsWith('"') && /\s/.test(assignment))) throw new Error(`${unit}: ${line}: one KEY=VALUE per Environment= line`);
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  return env;
}

/** The node flags of a unit whose ExecStart= runs `/usr/bin/node FLAGS... COMMAND` (none when it runs COMMAND). */
export function unitNodeFlags(unit: string): string[] {
  const exec = readFileSync(`${SYSTEMD}${unit}`, 'utf8').split('\n').find((l) => l.startsWith('ExecStart='));
  if (exec === undefined) throw new Error(`${unit}: no ExecStart=`);
  const [program, ...args] = exec.slice('ExecStart='.length).split(/\s+/).filter((w) => w !== '');
  if (program !== '/usr/bin/node') return [];
  const flags = args.slice(0, -1);
  if (args.length === 0 || flags.some((f) => !f.startsWith('--'))) throw new Error(`${unit}: ${exec}: expected /usr/bin/node --FLAG... COMMAND`);
  return flags;
}
