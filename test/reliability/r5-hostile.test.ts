/**
 * R5 hostile and malformed input. Each case gets a fresh EC2NET_ROOT.
 *
 * - IMDS values (newlines and shell metacharacters in addresses, the MAC directory listing, the ENI id and the
 *   top-level mac; bodies over 64 KiB; invalid CIDRs; an IPv6 address in local-ipv4s; duplicate entries; a prefix
 *   wider than the subnet; device-number "-1" and "1e9"; hostile ipv6s, ipv6-prefix and subnet-ipv6-cidr-blocks): `ec2ifup IF` exits 31 (InvalidMetadata; 20, Transient,
 *   for an oversized body) with an error naming the key; no file
 *   is written; no dhclient is started; the kernel (rules, routes, addresses, link flags, altnames) is unchanged.
 *   A daemon started against the same IMDS stays up, answers `ec2net status`, starts no child process, writes nothing
 *   for the interface, and logs the refusal.
 * - Bad arguments and interface names for ec2ifup, ec2ifdown, ec2ifscan, ec2net and ec2netd: exit 2, a usage message
 *   that says what is wrong, nothing written.
 * - An ifcfg file that is a directory, a FIFO or garbage, and an ec2net.conf with unknown keys or garbage: exit 30
 *   (InvalidArgument)
 *   with an error naming the file, nothing written or changed, the kernel unchanged.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { KINDS, type ErrorKind } from '../../src/errors.js';
import { Vpc, type EniSpec } from '../vpc/vpc.js';
import { ENI0, SUBNETS, kernelSnapshot, newRoot, startDaemon } from '../support/agent.js';
import { report } from '../support/figures.js';
import { PERSISTENT_NAMES, alive, filesUnder, persistentNameLine, processesUnder, recordRel, runAgent, type FileEntry, Outcome } from './support.js';

const TARGET: EniSpec = { id: 'eni-0000000000005e001', mac: '02:e5:00:00:00:01', ifname: 'r5e1', subnet: 's2', deviceNumber: 1, ipv4s: ['10.0.2.50', '10.0.2.51'] };
const MACS = 'network/interfaces/macs';
const KEY = (k: string) => `${MACS}/${TARGET.mac}/${k}`;
/** Where an injected command would leave its mark (inside the sandbox's private TMPDIR). */
const PWNED = `${tmpdir()}/ec2net-r5-pwned`;
/** A refusal is immediate; the bound only catches a run that hangs (e.g. reading a FIFO). */
const RUN_BOUND_MS = 15_000;

interface ImdsCase {
  readonly name: string;
  /** Override path relative to /latest/meta-data/, and its body. */
  readonly path: string;
  readonly body: string;
  /** The key the error must name (the `key` log field ends with it). */
  readonly key: string;
  /** The error's kind, which decides the exit status: InvalidMetadata unless said (an oversized body is a failed answer). */
  readonly kind?: ErrorKind;
}

const IMDS_CASES: ImdsCase[] = [
  { name: 'newline and ; in an address', path: KEY('local-ipv4s'), body: '10.0.2.50\n10.0.2.51;reboot', key: 'local-ipv4s' },
  { name: 'command substitution in an address', path: KEY('local-ipv4s'), body: `10.0.2.50\n$(touch ${PWNED})`, key: 'local-ipv4s' },
  { name: 'backticks in an address', path: KEY('local-ipv4s'), body: `10.0.2.50\n\`touch ${PWNED}\``, key: 'local-ipv4s' },
  { name: 'an IPv6 address where IPv4 belongs', path: KEY('local-ipv4s'), body: '2001:db8::50', key: 'local-ipv4s' },
  { name: 'a duplicate address', path: KEY('local-ipv4s'), body: '10.0.2.50\n10.0.2.51\n10.0.2.51', key: 'local-ipv4s' },
  { name: 'an address outside the subnet', path: KEY('local-ipv4s'), body: '10.0.2.50\n192.168.7.7', key: 'local-ipv4s' },
  { name: 'an over-long address list (> 64 KiB)', path: KEY('local-ipv4s'), body: '10.0.2.50\n'.repeat(8000), key: 'local-ipv4s', kind: 'Transient' },
  { name: 'a newline and a command in the ENI id', path: KEY('interface-id'), body: `${TARGET.id}\nrm -rf /`, key: 'interface-id' },
  { name: 'command substitution in the ENI id', path: KEY('interface-id'), body: `eni-$(touch ${PWNED})`, key: 'interface-id' },
  { name: 'an over-long ENI id (> 64 KiB)', path: KEY('interface-id'), body: `eni-${'a'.repeat(70_000)}`, key: 'interface-id', kind: 'Transient' },
  { name: '; in the MAC directory listing', path: `${MACS}/02:e5:00:00:09:99;reboot/device-number`, body: '5', key: `${MACS}/` },
  { name: 'a newline and $(…) in the MAC directory listing', path: `${MACS}/02:e5:00:00:09:98\n$(touch ${PWNED.replace(/\//g, '_')})/device-number`, body: '6', key: `${MACS}/` },
  { name: 'a newline in the top-level mac', path: 'mac', body: `${ENI0.mac}\nreboot`, key: 'mac' },
  { name: 'subnet prefix length 33', path: KEY('subnet-ipv4-cidr-block'), body: '10.0.2.0/33', key: 'subnet-ipv4-cidr-block' },
  { name: 'subnet with host bits set', path: KEY('subnet-ipv4-cidr-block'), body: '10.0.2.7/24', key: 'subnet-ipv4-cidr-block' },
  { name: 'subnet followed by a command', path: KEY('subnet-ipv4-cidr-block'), body: '10.0.2.0/24;reboot', key: 'subnet-ipv4-cidr-block' },
  { name: 'a prefix that is not a CIDR', path: KEY('ipv4-prefix'), body: '10.0.2.64/2x', key: 'ipv4-prefix' },
  { name: 'a prefix with host bits set', path: KEY('ipv4-prefix'), body: '10.0.2.65/28', key: 'ipv4-prefix' },
  { name: 'a duplicate prefix', path: KEY('ipv4-prefix'), body: '10.0.2.64/28\n10.0.2.64/28', key: 'ipv4-prefix' },
  { name: 'a prefix larger than the subnet', path: KEY('ipv4-prefix'), body: '10.0.0.0/16', key: 'ipv4-prefix' },
  { name: 'a prefix outside the subnet', path: KEY('ipv4-prefix'), body: '10.0.9.0/28', key: 'ipv4-prefix' },
  { name: 'device-number -1', path: KEY('device-number'), body: '-1', key: 'device-number' },
  { name: 'device-number 1e9', path: KEY('device-number'), body: '1e9', key: 'device-number' },
  { name: 'device-number with a second line', path: KEY('device-number'), body: '1\n2', key: 'device-number' },
  { name: 'network-card with a command', path: KEY('network-card'), body: '1;reboot', key: 'network-card' },
  { name: 'command substitution in an IPv6 address', path: KEY('ipv6s'), body: `2001:db8:2::50\n$(touch ${PWNED})`, key: 'ipv6s' },
  { name: 'a zone index on an IPv6 address', path: KEY('ipv6s'), body: '2001:db8:2::50%eth0', key: 'ipv6s' },
  { name: 'an IPv4 address where IPv6 belongs', path: KEY('ipv6s'), body: '10.0.2.50', key: 'ipv6s' },
  { name: 'a link-local IPv6 address', path: KEY('ipv6s'), body: 'fe80::50', key: 'ipv6s' },
  { name: 'an over-long IPv6 list (> 256 entries)', path: KEY('ipv6s'), body: Array.from({ length: 300 }, (_, i) => `2001:db8:2::${(i + 1).toString(16)}`).join('\n'), key: 'ipv6s' },
  { name: 'an IPv6 prefix wider than /64', path: KEY('ipv6-prefix'), body: '2001:db8::/48', key: 'ipv6-prefix' },
  { name: 'an IPv6 prefix with host bits set', path: KEY('ipv6-prefix'), body: '2001:db8:2::1/80', key: 'ipv6-prefix' },
  { name: 'an IPv6 subnet block with a command', path: KEY('subnet-ipv6-cidr-blocks'), body: '2001:db8:2::/64;reboot', key: 'subnet-ipv6-cidr-blocks' },
  { name: 'a network-card that is not a number', path: KEY('network-card'), body: 'x1', key: 'network-card' },
];

interface CliCase {
  readonly command: 'ec2ifup' | 'ec2ifdown' | 'ec2ifscan' | 'ec2net' | 'ec2netd';
  readonly args: string[];
  /** What the message must say. */
  readonly says: RegExp;
}

const BAD_NAME = /invalid interface name/;
const NAME_CASES = ['../x', 'a-name-longer-than-15', 'eth 1', '', 'ééééééé1', 'eth1\nreboot', 'eth1;reboot', '-'];
const CLI_CASES: CliCase[] = [
  ...(['ec2ifup', 'ec2ifdown'] as const).flatMap((command) => [
    ...NAME_CASES.map((n) => ({ command, args: [n], says: n === '-' ? /invalid interface name|Unknown option/ : BAD_NAME })),
    { command, args: [], says: /expected exactly one interface name/ },
    { command, args: ['r5e1', 'eth0'], says: /expected exactly one interface name/ },
    { command, args: ['--bogus', 'r5e1'], says: /Unknown option '--bogus'/ },
    { command, args: ['--root', 'relative/dir', 'r5e1'], says: /must be absolute/ },
  ]),
  { command: 'ec2ifscan', args: ['r5e1'], says: /expected no arguments/ },
  { command: 'ec2ifscan', args: ['../x'], says: /expected no arguments/ },
  { command: 'ec2ifscan', args: ['--bogus'], says: /Unknown option '--bogus'/ },
  { command: 'ec2net', args: [], says: /missing subcommand/ },
  { command: 'ec2net', args: ['bogus'], says: /unknown subcommand "bogus"/ },
  { command: 'ec2net', args: ['../x'], says: /unknown subcommand/ },
  { command: 'ec2net', args: ['status', '--bogus'], says: /Unknown option '--bogus'/ },
  { command: 'ec2net', args: ['status', 'r5e1'], says: /expected no arguments/ },
  { command: 'ec2net', args: ['plan'], says: /expected exactly one interface name/ },
  ...NAME_CASES.map((n) => ({ command: 'ec2net' as const, args: ['plan', n], says: n === '-' ? /invalid interface name|Unknown option/ : BAD_NAME })),
  { command: 'ec2net', args: ['cleanup', 'r5e1'], says: /expected no arguments/ },
  { command: 'ec2netd', args: ['r5e1'], says: /expected no arguments/ },
  { command: 'ec2netd', args: ['--bogus'], says: /Unknown option '--bogus'/ },
];

interface FileCase {
  readonly name: string;
  /** Sets up the bad file under root; returns its path relative to root. */
  readonly make: (root: string) => string;
  readonly commands: ('ec2ifup' | 'ec2ifdown' | 'ec2ifscan' | 'ec2net status' | 'ec2netd')[];
  /** What the error must say besides the file's path. */
  readonly says: RegExp;
}

const IFCFG_REL = `etc/sysconfig/network-scripts/ifcfg-${TARGET.ifname}`;
const CONF_REL = 'etc/ec2net/ec2net.conf';
const put = (root: string, rel: string, text: string | Buffer) => {
  mkdirSync(`${root}/${rel.slice(0, rel.lastIndexOf('/'))}`, { recursive: true });
  writeFileSync(`${root}/${rel}`, text);
  return rel;
};
const FILE_CASES: FileCase[] = [
  { name: 'the ifcfg file is a directory', make: (r) => (mkdirSync(`${r}/${IFCFG_REL}`, { recursive: true }), IFCFG_REL), commands: ['ec2ifup', 'ec2ifdown'], says: /cannot read file|EISDIR|not a regular file/ },
  {
    name: 'the ifcfg file is a FIFO',
    make: (r) => {
      mkdirSync(`${r}/etc/sysconfig/network-scripts`, { recursive: true });
      execFileSync('mkfifo', [`${r}/${IFCFG_REL}`]);
      return IFCFG_REL;
    },
    commands: ['ec2ifup', 'ec2ifdown'],
    says: /./,
  },
  { name: 'the ifcfg file has a command substitution', make: (r) => put(r, IFCFG_REL, `DEVICE=${TARGET.ifname}\nEC2SYNC=$(reboot)\n`), commands: ['ec2ifup', 'ec2ifdown'], says: /not KEY=value|not a plain word/ },
  { name: 'the ifcfg file is binary garbage', make: (r) => put(r, IFCFG_REL, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3, 0xff, 0x0a, 0x00])), commands: ['ec2ifup', 'ec2ifdown'], says: /NUL|not KEY=value/ },
  { name: 'the ifcfg file says EC2SYNC=maybe', make: (r) => put(r, IFCFG_REL, `DEVICE=${TARGET.ifname}\nEC2SYNC=maybe\n`), commands: ['ec2ifup', 'ec2ifdown'], says: /yes or no/ },
  { name: 'ec2net.conf has an unknown key', make: (r) => put(r, CONF_REL, 'PRIMARY_RULES=no\nPRIMARY_RULEZ=yes\n'), commands: ['ec2ifup', 'ec2ifdown', 'ec2ifscan', 'ec2net status', 'ec2netd'], says: /unknown key.*PRIMARY_RULEZ|PRIMARY_RULEZ.*unknown key/ },
  { name: 'ec2net.conf is garbage', make: (r) => put(r, CONF_REL, 'this is not a config file\n'), commands: ['ec2ifup', 'ec2ifscan', 'ec2netd'], says: /not KEY=value/ },
  { name: 'ec2net.conf is a directory', make: (r) => (mkdirSync(`${r}/${CONF_REL}`, { recursive: true }), CONF_REL), commands: ['ec2ifup', 'ec2ifscan', 'ec2netd'], says: /cannot read file|EISDIR|not a regular file/ },
];

/** Flags, MTU and altnames of a link. eth0's altnames are left out: a daemon legitimately names the valid primary ENI. */
const linkFacts = async (vpc: Vpc, dev: string) => {
  const r = await vpc.exec('instance', ['ip', '-j', 'link', 'show', 'dev', dev]);
  const [l] = JSON.parse(r.stdout) as { flags?: string[]; altnames?: string[]; operstate?: string; mtu?: number }[];
  return { flags: [...(l?.flags ?? [])].sort(), ...(dev === 'eth0' ? {} : { altnames: [...(l?.altnames ?? [])].sort() }), mtu: l?.mtu };
};

describe('R5 hostile and malformed input: refused, nothing written, nothing executed, the daemon stays up', () => {
  let vpc: Vpc;
  const devs = ['eth0', TARGET.ifname];
  const counts = { cases: 0, refused: 0, writtenFiles: 0, executed: 0, daemonRuns: 0, daemonRestarts: 0 };
  const outcome = new Outcome();
  const guard = outcome.guard;
  const t0 = Date.now();
  const snapshot = async () => ({ kernel: await kernelSnapshot(vpc, devs), links: { eth0: await linkFacts(vpc, 'eth0'), target: await linkFacts(vpc, TARGET.ifname) } });

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    await vpc.attach(ENI0);
    await vpc.attach(TARGET);
  });
  after(async () => {
    report({
      id: 'R5',
      title: 'hostile and malformed input (IMDS values, CLI arguments, ifcfg and config files)',
      outcome: outcome.value,
      figures: {
        'cases run': counts.cases,
        refused: counts.refused,
        'written files': counts.writtenFiles,
        'child processes executed': counts.executed,
        'daemon runs': counts.daemonRuns,
        'daemon restarts': counts.daemonRestarts,
        'duration s': Math.round((Date.now() - t0) / 1000),
      },
    });
    await vpc?.destroy();
  });

  describe('IMDS values', () => {
    for (const c of IMDS_CASES) {
      test(`${c.name} (${c.key})`, guard(async () => {
        counts.cases++;
        await vpc.imds.clearOverrides();
        await vpc.imds.setOverride(c.path, c.body);
        try {
          const before = await snapshot();
          const keyField = new RegExp(`"key":"(?:[^"]*/)?${c.key.replace(/[/.]/g, '\\$&')}"`);

          // ec2ifup refuses, names the key, writes nothing, runs nothing, changes nothing.
          const root = newRoot();
          const r = await runAgent(vpc, root, 'ec2ifup', [TARGET.ifname], { timeoutMs: RUN_BOUND_MS });
          assert.equal(r.code, KINDS[c.kind ?? 'InvalidMetadata'].exit, `exit ${r.code}: ${r.stderr}`);
          assert.match(r.stderr, keyField, r.stderr);
          const written = filesUnder(root);
          counts.writtenFiles += written.length;
          assert.deepEqual(written.map((f) => f.rel), [], 'nothing written');
          const procs = processesUnder(root);
          counts.executed += procs.length;
          assert.deepEqual(procs.map((p) => p.args.join(' ')), [], 'nothing executed');
          assert.ok(!existsSync(PWNED), 'no injected command ran');
          assert.deepEqual(await snapshot(), before, 'kernel unchanged');

          // A daemon started against the same IMDS stays up, answers, logs the refusal and touches nothing of it.
          const droot = newRoot();
          const d = startDaemon(vpc, droot, { EC2NET_LOG_LEVEL: 'info' });
          counts.daemonRuns++;
          let died = false;
          void d.exited.then(() => (died = true));
          try {
            await d.waitFor((x) => x.msg === 'ready', 60_000);
            const isRefusal = (x: Record<string, unknown>) => (x.level as number) >= 50 && keyField.test(JSON.stringify(x));
            const refusal = d.records.find(isRefusal) ?? (await d.waitFor(isRefusal, 30_000));
            assert.ok(refusal.kind === 'InvalidMetadata' || refusal.kind === 'Transient', JSON.stringify(refusal));
            const st = await runAgent(vpc, droot, 'ec2net', ['status', '--json']);
            assert.equal(st.code, 0, st.stderr);
            const doc = JSON.parse(st.stdout) as { daemonRunning: boolean; daemon?: { pid: number; childProcesses: number } };
            assert.equal(doc.daemonRunning, true, 'the daemon answers status');
            assert.equal(doc.daemon?.pid, d.pid);
            assert.equal(doc.daemon?.childProcesses, 0, 'the daemon started no child process');
            assert.ok(alive(d.pid) && !died, 'the daemon is alive');
            const mine = filesUnder(droot).filter((f) => !allowedDaemonFile(f, droot));
            counts.writtenFiles += mine.length;
            assert.deepEqual(mine.map((f) => f.rel), [], 'the daemon wrote nothing for the refused ENI');
            assert.deepEqual(processesUnder(droot).filter((p) => p.pid !== d.pid).map((p) => p.args.join(' ')), [], 'the daemon ran nothing');
            assert.deepEqual(await snapshot(), before, 'kernel unchanged with the daemon');
            counts.refused++;
          } finally {
            if (died || !alive(d.pid)) counts.daemonRestarts++;
            const code = await d.kill('SIGTERM');
            assert.equal(code, 0, 'the daemon stops cleanly');
          }
        } finally {
          await vpc.imds.clearOverrides();
        }
      }));
    }
  });

  describe('bad arguments and interface names: exit 2', () => {
    for (const c of CLI_CASES) {
      test(`${c.command} ${JSON.stringify(c.args)}`, guard(async () => {
        counts.cases++;
        const root = newRoot();
        const before = await snapshot();
        const r = await runAgent(vpc, root, c.command, c.args, { timeoutMs: RUN_BOUND_MS });
        assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
        assert.match(r.stderr, c.says);
        assert.match(r.stderr, /usage: /);
        const written = filesUnder(root);
        counts.writtenFiles += written.length;
        assert.deepEqual(written.map((f) => f.rel), []);
        assert.deepEqual(await snapshot(), before);
        counts.refused++;
      }));
    }
  });

  describe('unreadable or garbage files: exit 30 (InvalidArgument) naming the file', () => {
    for (const c of FILE_CASES) {
      for (const command of c.commands) {
        test(`${c.name}: ${command}`, guard(async () => {
          counts.cases++;
          const root = newRoot();
          const rel = c.make(root);
          const filesBefore = filesUnder(root);
          const contentBefore = filesBefore.filter((f) => f.kind === 'file').map((f) => readFileSync(`${root}/${f.rel}`).toString('base64'));
          const before = await snapshot();
          const [cmd, ...sub] = command.split(' ') as [CliCase['command'], ...string[]];
          const args = cmd === 'ec2ifup' || cmd === 'ec2ifdown' ? [TARGET.ifname] : sub;
          const r = await runAgent(vpc, root, cmd, args, { timeoutMs: RUN_BOUND_MS });
          assert.equal(r.code, KINDS.InvalidArgument.exit, `exit ${r.code} after ${r.ms} ms${r.code === 137 ? ' (killed: it hung)' : ''}: ${r.stderr}`);
          assert.ok(r.stderr.includes(`${root}/${rel}`), `the error names ${rel}: ${r.stderr}`);
          assert.match(r.stderr, c.says);
          const filesAfter = filesUnder(root);
          counts.writtenFiles += filesAfter.length - filesBefore.length;
          assert.deepEqual(filesAfter, filesBefore, 'nothing written');
          assert.deepEqual(filesAfter.filter((f) => f.kind === 'file').map((f) => readFileSync(`${root}/${f.rel}`).toString('base64')), contentBefore, 'nothing changed');
          assert.deepEqual(processesUnder(root).map((p) => p.args.join(' ')), [], 'nothing executed');
          assert.deepEqual(await snapshot(), before, 'kernel unchanged');
          counts.refused++;
        }));
      }
    }

    // The daemon meets the same ifcfg file when it configures the interface: it must log it and stay responsive.
    for (const c of FILE_CASES.filter((x) => x.commands.includes('ec2ifup') && !x.commands.includes('ec2netd'))) {
      test(`${c.name}: ec2netd logs it, gets ready, keeps no work pending`, guard(async () => {
        counts.cases++;
        const root = newRoot();
        const rel = c.make(root);
        const before = await snapshot();
        const d = startDaemon(vpc, root, { EC2NET_LOG_LEVEL: 'info' });
        counts.daemonRuns++;
        let died = false;
        void d.exited.then(() => (died = true));
        try {
          // READY=1 comes after the startup scan: a scan that hangs on one file never gets there.
          await d.waitFor((x) => x.msg === 'ready', RUN_BOUND_MS);
          const names = (x: Record<string, unknown>) => (x.level as number) >= 50 && JSON.stringify(x).includes(`${root}/${rel}`);
          const logged = d.records.find(names) ?? (await d.waitFor(names, RUN_BOUND_MS));
          assert.equal(logged.iface, TARGET.ifname);
          const st = await runAgent(vpc, root, 'ec2net', ['status', '--json'], { timeoutMs: RUN_BOUND_MS });
          assert.equal(st.code, 0, st.stderr);
          const doc = JSON.parse(st.stdout) as { daemonRunning: boolean; daemon?: { pending: string[]; childProcesses: number } };
          assert.equal(doc.daemonRunning, true);
          assert.deepEqual(doc.daemon?.pending, [], 'no work stuck');
          assert.equal(doc.daemon?.childProcesses, 0, 'nothing executed');
          const mine = filesUnder(root).filter((f) => f.rel !== rel && !allowedDaemonFile(f, root));
          counts.writtenFiles += mine.length;
          assert.deepEqual(mine.map((f) => f.rel), [], 'nothing written for the interface');
          assert.deepEqual(await snapshot(), before, 'kernel unchanged');
          assert.ok(alive(d.pid) && !died, 'the daemon is alive');
          counts.refused++;
        } finally {
          if (died || !alive(d.pid)) counts.daemonRestarts++;
          // A daemon stuck in its startup scan may not stop on SIGTERM: SIGKILL it after a grace period.
          const stopped = d.kill('SIGTERM');
          const code = await Promise.race([stopped, new Promise<string>((r) => setTimeout(() => r('hung'), 5_000))]);
          if (code === 'hung') await d.kill('SIGKILL');
          else assert.equal(code, 0, 'the daemon stops cleanly');
        }
      }));
    }
  });
});

/** What a daemon may write on a root where only the primary ENI can be configured: its socket, eth0's record and name. */
function allowedDaemonFile(f: FileEntry, root: string): boolean {
  if (f.rel === 'run/ec2net/ec2netd.sock' || f.rel === recordRel(ENI0.mac)) return true;
  if (f.rel === PERSISTENT_NAMES) {
    const text = readFileSync(`${root}/${f.rel}`, 'utf8');
    return !text.includes(TARGET.mac) && text.includes(persistentNameLine(ENI0.mac, ENI0.ifname));
  }
  return false;
}
