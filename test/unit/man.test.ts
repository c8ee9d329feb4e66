/**
 * The man pages in man/, as the packages install them: each renders without a warning (`man --warnings`), and
 * each says what the code does: every exit status from the one table of kinds, every EC2NET_* variable, every
 * ec2net.conf key (with examples the parser accepts), and where to look when something is wrong.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONFIG_KEYS, parseConfig } from '../../src/config.js';
import { KINDS } from '../../src/errors.js';
import { DAEMON_ENVIRONMENT, ENVIRONMENT } from '../../src/cli/help.js';
import { manText, manWarnings } from '../support/man.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const MAN = `${REPO}man/`;
const COMMAND_PAGES = ['ec2ifup', 'ec2ifdown', 'ec2ifscan', 'ec2netd', 'ec2net'];

/** The rendered page's sections by heading (a line in column 0), each body with its white space folded. */
function sections(file: string): Map<string, string> {
  const out = new Map<string, string>();
  let heading = '';
  for (const line of manText(file).split('\n').slice(1, -2)) {
    if (/^[A-Z][A-Z -]+$/.test(line)) heading = line;
    else out.set(heading, `${out.get(heading) ?? ''} ${line.trim()}`.trim().replace(/\s+/g, ' '));
  }
  return out;
}

/** The verbatim example lines of a section (indented further than its prose), as written. */
function exampleLines(file: string, heading: string): string[] {
  const text = manText(file).split('\n');
  const start = text.indexOf(heading);
  const end = text.findIndex((l, i) => i > start && /^[A-Z]/.test(l));
  return text.slice(start + 1, end).filter((l) => /^ {14}\S/.test(l)).map((l) => l.trim());
}

describe('man pages', () => {
  test('every page in man/ renders without a warning', () => {
    const pages = readdirSync(MAN);
    assert.deepEqual(pages.sort(), [...COMMAND_PAGES.map((c) => `${c}.8`), 'ec2net.conf.5'].sort());
    for (const page of pages) assert.deepEqual(manWarnings(`${MAN}${page}`), { status: 0, stderr: '' }, page);
  });

  for (const command of COMMAND_PAGES) {
    test(`${command}(8): the sections an admin looks for; every exit status, variable, and ec2net.conf(5)`, () => {
      const s = sections(`${MAN}${command}.8`);
      for (const heading of ['SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'ENVIRONMENT', 'FILES', 'EXIT STATUS', 'EXAMPLES', 'TROUBLESHOOTING', 'SEE ALSO']) {
        assert.ok(s.has(heading), `${command}(8) has no ${heading}`);
      }
      const exit = s.get('EXIT STATUS') ?? '';
      assert.match(exit, /(^| )0 \S/);
      for (const [kind, f] of Object.entries(KINDS)) {
        assert.ok(exit.includes(`${f.exit} ${kind}: ${f.means}.`), `${command}(8) EXIT STATUS: ${f.exit} ${kind}: ${f.means}`);
      }
      for (const name of Object.keys({ ...ENVIRONMENT, ...(command === 'ec2netd' ? DAEMON_ENVIRONMENT : {}) })) {
        assert.match(s.get('ENVIRONMENT') ?? '', new RegExp(`\\b${name}\\b`), `${command}(8) ENVIRONMENT: ${name}`);
      }
      assert.match(s.get('FILES') ?? '', /\/etc\/ec2net\/ec2net\.conf Settings; see ec2net\.conf\(5\)/);
      assert.match(s.get('SEE ALSO') ?? '', /^ec2net\.conf\(5\), /);
      assert.match(s.get('TROUBLESHOOTING') ?? '', /journalctl (-b )?-u /);
    });
  }

  test('ec2net(8) TROUBLESHOOTING: the journal, status, plan --diff, reachability, opting out, and every kind with what to do', () => {
    const t = sections(`${MAN}ec2net.8`).get('TROUBLESHOOTING') ?? '';
    for (const says of ['journalctl -u ec2netd', 'ec2net status', 'ec2net plan --diff', 'nc -zv', 'ip route get', 'UNMANAGED', 'EC2SYNC=no', 'ec2ifdown']) {
      assert.ok(t.includes(says), `TROUBLESHOOTING does not say ${says}`);
    }
    for (const [kind, f] of Object.entries(KINDS)) assert.match(t, new RegExp(`${kind} \\(${f.exit}\\) \\S`), kind);
  });

  test('ec2net.conf(5) documents every key the parser takes, and each example is a file the parser accepts', () => {
    const s = sections(`${MAN}ec2net.conf.5`);
    for (const key of CONFIG_KEYS) assert.match(s.get('OPTIONS') ?? '', new RegExp(`(^| )${key}=`), key);
    const documented = [...(s.get('OPTIONS') ?? '').matchAll(/(?:^| )([A-Z][A-Z_]+)=/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(documented)].sort(), [...CONFIG_KEYS].sort(), 'OPTIONS names no key the parser refuses');
    // The file the package installs documents the same keys, commented out.
    const shipped = [...readFileSync(`${REPO}packaging/ec2net.conf`, 'utf8').matchAll(/^#([A-Z_]+)=/gm)].map((m) => m[1]);
    assert.deepEqual(shipped.sort(), [...CONFIG_KEYS].sort());
    const examples = exampleLines(`${MAN}ec2net.conf.5`, 'EXAMPLES').filter((l) => /^[A-Z_]+=/.test(l));
    assert.ok(examples.length >= 4, examples.join('\n'));
    for (const line of examples) assert.doesNotThrow(() => parseConfig(`${line}\n`, 'ec2net.conf(5)'), line);
    for (const flag of ['EC2SYNC=no', 'MAINROUTETABLE=no', 'EC2PROVISIONPFXIPS=yes']) assert.ok(s.get('PER-INTERFACE FLAGS')?.includes(flag), flag);
  });
});
