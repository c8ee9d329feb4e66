/**
 * `npm run reliability`: the reliability scenarios (test/reliability, R1–R7) in the network sandbox, then the
 * summary table of what each one held, from the figures they wrote to build/reliability/. `--doc FILE` also writes
 * the table into FILE between the markers <!-- reliability:begin --> and <!-- reliability:end -->. `--no-run`
 * only tabulates the figures an earlier run (npm test runs the scenarios too) left.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const figuresDir = here('../reliability/');
const testsDir = here('../test/reliability/');

interface Figures {
  id: string;
  title: string;
  outcome: string;
  figures: Record<string, string | number>;
}

function table(): string {
  const rows = readdirSync(figuresDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(`${figuresDir}${f}`, 'utf8')) as Figures);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| scenario | what | outcome | figures |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.id} | ${esc(r.title)} | ${r.outcome} | ${esc(Object.entries(r.figures).map(([k, v]) => `${k}: ${v}`).join('; '))} |`),
  ].join('\n');
}

const docIndex = process.argv.indexOf('--doc');
const doc = docIndex >= 0 ? process.argv[docIndex + 1] : undefined;
let status = 0;
if (!process.argv.includes('--no-run')) {
  rmSync(figuresDir, { recursive: true, force: true });
  const files = readdirSync(testsDir).filter((f) => f.endsWith('.test.js')).sort().map((f) => `${testsDir}${f}`);
  status = spawnSync(process.execPath, [here('./sandbox.js'), process.execPath, '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' }).status ?? 1;
}
const summary = table();
process.stdout.write(`\nReliability summary\n\n${summary}\n`);
if (doc) {
  const text = readFileSync(doc, 'utf8');
  const begin = '<!-- reliability:begin -->';
  const end = '<!-- reliability:end -->';
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${doc} has no ${begin} … ${end} markers`);
  writeFileSync(doc, `${text.slice(0, a + begin.length)}\n${summary}\n${text.slice(b)}`);
}
process.exit(status);
