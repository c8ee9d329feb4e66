/**
 * man pages as man-db renders them: its own check (`man --warnings`, which has groff report every warning) and
 * the rendered text, for tests that hold a page to what the code does.
 */
import { spawnSync } from 'node:child_process';

/** Renders `file` (a page, gzipped or not) with warnings on; a clean page gives status 0 and no stderr. */
export function manWarnings(file: string): { status: number | null; stderr: string } {
  // MANROFFSEQ: no preprocessors from the environment; the page says what it needs.
  const r = spawnSync('man', ['--warnings', '-E', 'UTF-8', '-l', '-Tutf8', '-Z', file], { encoding: 'utf8', env: { ...process.env, MANROFFSEQ: '' } });
  if (r.error) throw new Error(`man: ${r.error.message} (Debian package man-db, scripts/apt-packages.txt)`);
  return { status: r.status, stderr: r.stderr };
}

/**
 * The page as plain text, lines wide enough that no entry wraps, with groff's typographic characters (hyphen,
 * minus, quotes, dashes) as the ASCII a reader types.
 */
export function manText(file: string): string {
  const r = spawnSync('man', ['-E', 'UTF-8', '-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '400', MAN_KEEP_FORMATTING: '', MANROFFSEQ: '' } });
  if (r.error || r.status !== 0) throw new Error(`man -l ${file}: ${r.error?.message ?? r.stderr}`);
  return r.stdout
    .replace(/[\u2010\u2212]/g, '-')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/\u2013/g, '-');
}
