/**
 * The unified diff `ec2net plan --diff` prints for files: what GNU diff -u prints where the edit is unambiguous,
 * and, for any pair of texts, a patch that GNU patch applies to the old text to give the new one exactly.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { unifiedDiff } from '../../src/reconcile/text-diff.js';

const dir = mkdtempSync(join(tmpdir(), 'ec2net-text-diff-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PATH = '/etc/sysconfig/network-scripts/route-eth1';

/** GNU diff -u of the two texts, labelled as unifiedDiff labels them. */
function gnuDiff(before: string | undefined, after: string): string {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  writeFileSync(a, before ?? '');
  writeFileSync(b, after);
  const r = spawnSync('diff', ['-u', '--label', before === undefined ? '/dev/null' : PATH, '--label', PATH, a, b], { encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  return r.stdout;
}

/** The old text with `patch` applied by GNU patch. */
function patched(before: string, patch: string): string {
  const file = join(dir, 'target');
  writeFileSync(file, before);
  const r = spawnSync('patch', ['--quiet', '--force', '--no-backup-if-mismatch', '-r', '-', file], { input: patch, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${patch}`);
  return readFileSync(file, 'utf8');
}

const lines = (n: number, tag = 'line') => Array.from({ length: n }, (_, i) => `${tag} ${i + 1}\n`).join('');

describe('unifiedDiff', () => {
  test('equal texts: no diff', () => {
    assert.equal(unifiedDiff(PATH, 'a\nb\n', 'a\nb\n'), '');
  });

  const cases: [string, string | undefined, string][] = [
    ['a new file', undefined, 'default via 10.0.2.1 dev eth1 table 10001\ndefault via 10.0.2.1 dev eth1 metric 10001\n'],
    ['one line changed in the middle of twenty', lines(20), lines(20).replace('line 10\n', 'line ten\n')],
    ['a line added at the end', lines(5), `${lines(5)}line 6\n`],
    ['a line removed at the start', lines(8), lines(8).replace('line 1\n', '')],
    ['two changes far apart: two hunks', lines(30), lines(30).replace('line 3\n', 'three\n').replace('line 27\n', 'twenty-seven\n')],
    ['two changes six lines apart: one hunk', lines(30), lines(30).replace('line 10\n', 'ten\n').replace('line 17\n', 'seventeen\n')],
    ['no newline at the end of the old file', 'a\nb', 'a\nb\n'],
    ['everything replaced', lines(3, 'old'), lines(4, 'new')],
  ];
  for (const [name, before, after] of cases) {
    test(`${name}: as GNU diff -u prints it`, () => {
      assert.equal(unifiedDiff(PATH, before, after), gnuDiff(before, after));
    });
  }

  test('any two texts: GNU patch turns the old one into the new one with it', () => {
    const text = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'DEVICE=eth1', ''), { maxLength: 25 }), fc.boolean())
      .map(([ls, eol]) => (ls.length === 0 ? '' : `${ls.join('\n')}${eol ? '\n' : ''}`));
    fc.assert(
      fc.property(text, text, (before, after) => {
        const d = unifiedDiff(PATH, before, after);
        if (before === after) return assert.equal(d, '');
        assert.notEqual(d, '');
        assert.equal(patched(before, d), after);
      }),
      { numRuns: 150 },
    );
  });
});
