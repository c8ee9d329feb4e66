/**
 * The log formats as a child process writes them to a real stderr: JSON lines by default (test/support parses
 * them), the journal's `<N>`-prefixed key=value lines when stderr is the stream JOURNAL_STREAM names, and the
 * EC2NET_LOG_FORMAT / EC2NET_LOG_LEVEL settings as the commands read them. Each child's stderr is a file of its
 * own, so its DEVICE:INODE is known before the child starts; its environment holds nothing of this process's.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KINDS } from '../../src/errors.js';

const LOG_MODULE = new URL('../../src/log.js', import.meta.url).href;
const COMMON_MODULE = new URL('../../src/cli/common.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'ec2net-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/**
 * Runs the ES module `source` in a child whose stderr is a new file; `env` gets that file's DEVICE:INODE, as
 * systemd puts the journal stream's in JOURNAL_STREAM.
 */
function run(source: string, env: (stream: string) => Record<string, string> = () => ({})): { code: number | null; stderr: string } {
  const file = join(dir, `stderr-${files++}`);
  writeFileSync(file, '');
  const st = statSync(file, { bigint: true });
  const fd = openSync(file, 'a');
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
      stdio: ['ignore', 'ignore', fd],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env(`${st.dev}:${st.ino}`) },
      timeout: 30_000,
    });
    return { code: r.status, stderr: readFileSync(file, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** A child that logs through createLogger(name, `opts`) with `body`, `log` in scope. */
function logging(opts: string, body: string, env?: (stream: string) => Record<string, string>): string {
  const r = run(`import { createLogger } from ${JSON.stringify(LOG_MODULE)};\nconst log = createLogger('ec2test', ${opts});\n${body}`, env);
  assert.equal(r.code, 0, r.stderr);
  return r.stderr;
}

const ONE_RECORD = `log.info({ iface: 'eth1', table: 10001 }, 'applying changes');`;
const ONE_JOURNAL_LINE = '<6>applying changes iface=eth1 table=10001\n';

function assertJsonRecord(stderr: string): void {
  const rec = JSON.parse(stderr) as Record<string, unknown>;
  assert.equal(typeof rec.time, 'number');
  assert.equal(typeof rec.pid, 'number');
  // Field order and spacing too: the line is exactly what it was before the journal format.
  const expected = { level: 30, time: rec.time, pid: rec.pid, name: 'ec2test', iface: 'eth1', table: 10001, msg: 'applying changes' };
  assert.equal(stderr, `${JSON.stringify(expected)}\n`);
}

test('JSON lines are the default, unchanged, when stderr is neither a terminal nor the journal', () => {
  assertJsonRecord(logging('{}', ONE_RECORD));
});

test('journal format: each pino level carries its syslog priority', () => {
  const out = logging(
    `{ level: 'trace', format: 'journal' }`,
    `for (const l of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[l]('at ' + l);`,
  );
  assert.equal(out, ['<7>at trace', '<7>at debug', '<6>at info', '<4>at warn', '<3>at error', '<2>at fatal', ''].join('\n'));
});

test('journal format: the message, then the fields as key=value, quoted only where needed', () => {
  const out = logging(
    `{ format: 'journal' }`,
    `const denied = Object.assign(new Error('open /etc/x: permission denied'), { code: 'EACCES' });
     log.warn({ iface: 'eth1', mac: '0a:1b:2c:3d:4e:5f', table: 10001, up: true, none: null, reason: 'EC2SYNC=no in the ifcfg file',
                quote: 'say"hi', eq: 'a=b', empty: '', ctl: 'a\\u0000b', tables: [10001, 10002], addr: { ip: '10.0.0.5', prefix: 24 }, err: denied },
               'leaving interface alone');
     log.error({ iface: 'eth2', err: new Error('boom') }, 'configuring interface failed');
     log.info('two\\nlines');
     log.info({ macs: [] });`,
  );
  assert.equal(
    out,
    [
      '<4>leaving interface alone iface=eth1 mac=0a:1b:2c:3d:4e:5f table=10001 up=true none=null reason="EC2SYNC=no in the ifcfg file"' +
        ' quote="say\\"hi" eq="a=b" empty="" ctl="a\\u0000b" tables=[10001,10002] addr={"ip":"10.0.0.5","prefix":24}' +
        ' err="open /etc/x: permission denied" err.code=EACCES',
      '<3>configuring interface failed iface=eth2 err=boom',
      '<6>two\\nlines',
      '<6>macs=[]',
      '',
    ].join('\n'),
  );
});

test('text format: one readable line per record, as on a terminal', () => {
  assert.equal(logging(`{ format: 'text' }`, ONE_RECORD), 'ec2test: info: applying changes (iface=eth1 table=10001)\n');
});

test('JOURNAL_STREAM naming stderr itself selects the journal format', () => {
  assert.equal(logging('{}', ONE_RECORD, (stream) => ({ JOURNAL_STREAM: stream })), ONE_JOURNAL_LINE);
});

test('JOURNAL_STREAM naming another stream (stderr redirected since) leaves JSON lines', () => {
  const elsewhere = [
    (stream: string) => stream.replace(/\d+$/, (ino) => String(BigInt(ino) + 1n)),
    (stream: string) => stream.replace(/^\d+/, (dev) => String(BigInt(dev) + 1n)),
    () => 'garbage',
    () => '',
  ];
  for (const value of elsewhere) {
    assertJsonRecord(logging('{}', ONE_RECORD, (stream) => ({ JOURNAL_STREAM: value(stream) })));
  }
});

test('a format given to createLogger wins over detection', () => {
  assertJsonRecord(logging(`{ format: 'json' }`, ONE_RECORD, (stream) => ({ JOURNAL_STREAM: stream })));
});

/**
 * A command run through main() with `env`, under a root whose config file has an unknown key: the command fails
 * there (or earlier at the root check, when not root), and logs that in the chosen format, before anything touches
 * IMDS or the kernel. EC2NET_IMDS_URL is invalid so that, should the config be accepted, it stops as a usage error.
 */
function command(env: (stream: string) => Record<string, string>): { code: number | null; stderr: string } {
  const root = mkdtempSync(join(dir, 'root-'));
  mkdirSync(join(root, 'etc/ec2net'), { recursive: true });
  writeFileSync(join(root, 'etc/ec2net/ec2net.conf'), 'NOT_A_SETTING=yes\n');
  const cmd = `{ name: 'ec2test', usage: 'usage: ec2test', ifaces: 0, run: async () => 0 }`;
  return run(
    `import { main } from ${JSON.stringify(COMMON_MODULE)};\nprocess.exitCode = await main(${cmd}, [], process.env);`,
    (stream) => ({ EC2NET_ROOT: root, EC2NET_IMDS_URL: 'not-a-url', ...env(stream) }),
  );
}

/** The statuses of the two failures command() can end in (exit statuses: src/errors.ts, KINDS). */
const FAILED: (number | null)[] = [KINDS.InvalidArgument.exit, KINDS.PermissionDenied.exit];

test('EC2NET_LOG_FORMAT chooses the format of a command, over detection', () => {
  const journal = command((stream) => ({ EC2NET_LOG_FORMAT: 'journal', JOURNAL_STREAM: `${stream}0` }));
  assert.ok(FAILED.includes(journal.code), `exit ${journal.code}: ${journal.stderr}`);
  assert.match(journal.stderr, /^<3>\S[^\n]* kind=(InvalidArgument|PermissionDenied)[^\n]*\n$/);

  const text = command(() => ({ EC2NET_LOG_FORMAT: 'text' }));
  assert.ok(FAILED.includes(text.code), `exit ${text.code}: ${text.stderr}`);
  assert.match(text.stderr, /^ec2test: error: [^\n]+ \(kind=(InvalidArgument|PermissionDenied)[^\n]*\)\n$/);

  const json = command((stream) => ({ EC2NET_LOG_FORMAT: 'json', JOURNAL_STREAM: stream }));
  assert.ok(FAILED.includes(json.code), `exit ${json.code}: ${json.stderr}`);
  const rec = JSON.parse(json.stderr) as Record<string, unknown>;
  assert.equal(rec.level, 50);
  assert.match(String(rec.kind), /^(InvalidArgument|PermissionDenied)$/);

  const detected = command((stream) => ({ JOURNAL_STREAM: stream }));
  assert.ok(FAILED.includes(detected.code), `exit ${detected.code}: ${detected.stderr}`);
  assert.match(detected.stderr, /^<3>\S[^\n]* kind=/);
});

test('an invalid EC2NET_LOG_FORMAT or EC2NET_LOG_LEVEL is a usage error that names the setting', () => {
  const format = command(() => ({ EC2NET_LOG_FORMAT: 'xml' }));
  assert.equal(format.code, 2, format.stderr);
  assert.equal(format.stderr, 'ec2test: EC2NET_LOG_FORMAT must be one of json, text, journal\nusage: ec2test\n');

  const level = command(() => ({ EC2NET_LOG_LEVEL: 'loud' }));
  assert.equal(level.code, 2, level.stderr);
  assert.equal(level.stderr, 'ec2test: EC2NET_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent\nusage: ec2test\n');
});
