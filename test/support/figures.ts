/**
 * Figures a reliability scenario measured (load held, faults injected, what survived). Each scenario prints its
 * own and writes them to build/reliability/ID.json; scripts/reliability.ts gathers them into the summary table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIGURES_DIR = fileURLToPath(new URL('../../reliability/', import.meta.url));

export interface Figures {
  readonly id: string;
  readonly title: string;
  readonly outcome: 'held' | 'failed';
  readonly figures: Record<string, string | number>;
}

export function report(f: Figures): void {
  mkdirSync(FIGURES_DIR, { recursive: true });
  writeFileSync(`${FIGURES_DIR}${f.id}.json`, `${JSON.stringify(f, null, 2)}\n`);
  const body = Object.entries(f.figures).map(([k, v]) => `${k}=${v}`).join(', ');
  process.stdout.write(`# ${f.id} ${f.title}: ${f.outcome}; ${body}\n`);
}
