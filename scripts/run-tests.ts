/**
 * `npm test`: every tier (unit, scenario, network) in one node:test run, inside a sandbox of fresh namespaces
 * (scripts/sandbox.ts), so that nothing a test does can reach the machine's own network. Ends with the runner's
 * summary.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const buildTest = fileURLToPath(new URL('../test/', import.meta.url));
const sandbox = fileURLToPath(new URL('./sandbox.js', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = `${dir}${name}`;
      if (statSync(full).isDirectory()) return testFiles(`${full}/`);
      return name.endsWith('.test.js') ? [full] : [];
    });
}

// Filters by substring: `npm test -- agent vpc` runs the files whose path contains "agent" or "vpc".
const filters = process.argv.slice(2);
const files = testFiles(buildTest).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  process.stderr.write('no test files matched\n');
  process.exit(1);
}
const result = spawnSync(process.execPath, [sandbox, process.execPath, '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
