/**
 * The Environment= of one of the shipped units, so that tests and the benchmark run a program as its unit does.
 * Takes the one-assignment-per-line form the units use (`Environment=KEY=VALUE`, quoted when VALUE has spaces).
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
