/**
 * A unified diff (diff -u) of two texts, for showing what a write would change in a file (`ec2net plan --diff`).
 * Pure. The files ec2net writes are tens of lines; the line-by-line longest common subsequence is exact and cheap
 * at that size, and above MAX_CELLS the whole text is shown replaced instead.
 */

/** Lines of context around each change, as diff -u. */
export const CONTEXT_LINES = 3;
/** Above this many cells (old lines × new lines) no common lines are looked for. */
const MAX_CELLS = 4_000_000;

interface Line {
  readonly text: string;
  /** The text's last line has no newline: diff -u marks it "\ No newline at end of file". */
  readonly noEol: boolean;
}

type Op = { readonly kind: ' ' | '-' | '+'; readonly line: Line };

function linesOf(text: string): Line[] {
  if (text === '') return [];
  const parts = text.split('\n');
  const noEol = parts.at(-1) !== '';
  if (!noEol) parts.pop();
  return parts.map((t, i) => ({ text: t, noEol: noEol && i === parts.length - 1 }));
}

const same = (a: Line, b: Line) => a.text === b.text && a.noEol === b.noEol;

/** The edit script from `a` to `b`: kept, removed and added lines, in order. */
function editScript(a: readonly Line[], b: readonly Line[]): Op[] {
  if (a.length * b.length > MAX_CELLS) return [...a.map((line) => ({ kind: '-' as const, line })), ...b.map((line) => ({ kind: '+' as const, line }))];
  // lcs[i][j]: the length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = same(a[i]!, b[j]!) ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && same(a[i]!, b[j]!)) {
      ops.push({ kind: ' ', line: a[i++]! });
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      ops.push({ kind: '-', line: a[i++]! });
    } else {
      ops.push({ kind: '+', line: b[j++]! });
    }
  }
  // diff -u shows a change's removed lines before its added ones.
  for (let k = 0; k < ops.length; ) {
    let end = k;
    while (end < ops.length && ops[end]!.kind !== ' ') end++;
    const run = ops.slice(k, end);
    ops.splice(k, run.length, ...run.filter((o) => o.kind === '-'), ...run.filter((o) => o.kind === '+'));
    k = end + 1;
  }
  return ops;
}

/** diff -u's range: the first line and the count, the count left out when it is 1, the line before when it is 0. */
function range(first: number, count: number): string {
  if (count === 1) return String(first);
  return `${count === 0 ? first - 1 : first},${count}`;
}

/**
 * The unified diff from `before` (undefined: the file does not exist) to `after`, with `---` and `+++` header
 * lines naming `path`; "" when they are equal.
 */
export function unifiedDiff(path: string, before: string | undefined, after: string): string {
  const ops = editScript(linesOf(before ?? ''), linesOf(after));
  if (ops.every((o) => o.kind === ' ')) return '';
  const out = [`--- ${before === undefined ? '/dev/null' : path}`, `+++ ${path}`];
  // Each op's line number in the old and the new text (1-based), counted as the script is walked.
  const at: { old: number; new: number }[] = [];
  let oldLine = 1;
  let newLine = 1;
  for (const o of ops) {
    at.push({ old: oldLine, new: newLine });
    if (o.kind !== '+') oldLine++;
    if (o.kind !== '-') newLine++;
  }
  // Changes whose unchanged lines between them fit in both contexts share a hunk, as in diff -u.
  const hunks: [first: number, last: number][] = [];
  ops.forEach((o, k) => {
    if (o.kind === ' ') return;
    const h = hunks.at(-1);
    if (h && k - h[1] - 1 <= 2 * CONTEXT_LINES) h[1] = k;
    else hunks.push([k, k]);
  });
  for (const [first, last] of hunks) {
    const start = Math.max(0, first - CONTEXT_LINES);
    const hunk = ops.slice(start, Math.min(ops.length, last + 1 + CONTEXT_LINES));
    const oldCount = hunk.filter((o) => o.kind !== '+').length;
    const newCount = hunk.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${range(at[start]!.old, oldCount)} +${range(at[start]!.new, newCount)} @@`);
    for (const o of hunk) {
      out.push(`${o.kind}${o.line.text}`);
      if (o.line.noEol) out.push('\\ No newline at end of file');
    }
  }
  return `${out.join('\n')}\n`;
}
