/**
 * What each command says about itself: --help names the environment it reads (every EC2NET_* variable the code
 * reads), the config file, and every exit status from the one table of kinds; --version exits 0 (`ec2net
 * --version` included); a usage error exits 2. Runs the built entry points; none of this reaches IMDS or the kernel.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT_OK, EXIT_USAGE, KINDS } from '../../src/errors.js';
import { DAEMON_ENVIRONMENT, ENVIRONMENT } from '../../src/cli/help.js';
import { VERSION } from '../../src/version.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/', import.meta.url));
const COMMANDS = ['ec2ifup', 'ec2ifdown', 'ec2ifscan', 'ec2netd', 'ec2net'] as const;

function run(command: string, args: string[]) {
  return spawnSync(process.execPath, [`${CLI}${command}.js`, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
}

/** Every EC2NET_* variable the agent's code reads from the environment (src/, and the packaged entry points). */
function variablesRead(): Set<string> {
  const files = (dir: string): string[] =>
    readdirSync(`${REPO}${dir}`, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.c?ts$/.test(f))
      .map((f) => `${REPO}${dir}/${f}`);
  const names = new Set<string>();
  for (const file of [...files('src'), ...files('scripts/package')]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/env\.(EC2NET_[A-Z_]+)/g)) names.add(m[1] as string);
  }
  return names;
}

describe('--help, --version and usage errors', () => {
  test('the variables --help lists are exactly those the code reads', () => {
    assert.deepEqual([...variablesRead()].sort(), Object.keys({ ...ENVIRONMENT, ...DAEMON_ENVIRONMENT }).sort());
  });

  for (const command of COMMANDS) {
    test(`${command} --help: usage, environment, config file and every exit status; exit 0`, () => {
      const r = run(command, ['--help']);
      assert.equal(r.status, EXIT_OK, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`^usage: ${command} `));
      for (const name of Object.keys({ ...ENVIRONMENT, ...(command === 'ec2netd' ? DAEMON_ENVIRONMENT : {}) })) {
        assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'), `${command} --help does not name ${name}`);
      }
      assert.match(r.stdout, /^ {2}\/etc\/ec2net\/ec2net\.conf +settings, see ec2net\.conf\(5\)/m);
      assert.match(r.stdout, /^ {2} 0 {2}success$/m);
      for (const [kind, f] of Object.entries(KINDS)) {
        assert.match(r.stdout, new RegExp(`^ {2}${String(f.exit).padStart(2)} {2}${kind} +${f.means.replace(/[()*.]/g, '\\$&')}$`, 'm'), `${command}: ${kind}`);
      }
      assert.match(r.stdout, new RegExp(`See ${command}\\(8\\), TROUBLESHOOTING`));
    });

    test(`${command} --version prints the version and exits 0`, () => {
      const r = run(command, ['--version']);
      assert.deepEqual([r.status, r.stdout, r.stderr], [EXIT_OK, `${command} ${VERSION}\n`, '']);
    });
  }

  test('ec2net: --help and -h list the subcommands; a subcommand\'s --help is the same', () => {
    const help = run('ec2net', ['--help']);
    assert.equal(help.status, EXIT_OK);
    for (const sub of ['status', 'plan', 'cleanup', 'hostname']) assert.match(help.stdout, new RegExp(`^(usage: | +)ec2net ${sub} `, 'm'));
    assert.match(help.stdout, /ec2net plan \[--diff\] \[--json\]/);
    assert.equal(run('ec2net', ['-h']).stdout, help.stdout);
    assert.equal(run('ec2net', ['status', '--help']).stdout, help.stdout);
  });

  test('usage errors exit 2 with the usage, not the whole help', () => {
    for (const [command, args] of [['ec2ifup', []], ['ec2net', []], ['ec2net', ['--bogus']], ['ec2net', ['plan']], ['ec2ifscan', ['eth1']]] as const) {
      const r = run(command, [...args]);
      assert.equal(r.status, EXIT_USAGE, `${command} ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: /);
      assert.doesNotMatch(r.stderr, /Exit status/);
    }
  });
});
