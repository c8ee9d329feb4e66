/**
 * The .deb as a user installs it: on a stock Debian 12 system (scripts/debian-rootfs.sh: debootstrap of Debian's
 * packages, with Debian's own nodejs 18), booted with systemd 252 as PID 1 (systemd-nspawn) in the simulated VPC's
 * instance namespace (test/vpc/container.ts refuses any other). Once with the distribution's node, once with this
 * machine's node 20 over /usr/bin/node: the package's Depends (nodejs >= 18.19) admits both.
 *
 * What it shows, as an operator would see it: ec2netd active and READY; ec2ifscan.service waits for the primary
 * ENI's late address instead of failing the boot; two ENIs hot-plugged → every address reachable from the remote
 * host; `systemctl restart ec2netd` leaves the DHCP clients running, and they renew; so does an upgrade's
 * maintainer scripts' restart; detach → rules, files and client gone; an error reaches the journal at priority err;
 * install, upgrade and `apt-get purge` warn of nothing, and the purge leaves nothing of ec2net.
 *
 * No udevd runs in a container (its /sys is read-only), so hotplug here is ec2netd's own rtnetlink subscription,
 * the path it relies on when udev events are lost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DHCLIENT_UNIT } from '../../src/ports/activation.js';
import { type Arch } from '../../scripts/package/layout.js';
import { ENI0, ENI1, ENI2, SUBNETS, addressesOf, eventually, reach, ruleLines } from '../support/agent.js';
import { Container } from '../vpc/container.js';
import { Vpc } from '../vpc/vpc.js';
import { BUILD_TIMEOUT_MS, HOST_ARCH, isRoot, packageFile, packages } from './support.js';

const DEB = '/root/ec2net.deb';
/** The lease stays an hour (EC2's is too); renewals are asked for every few seconds so that one can be seen. */
const RENEW_SECONDS = 6;
/** T1 and a retransmission or two. */
const RENEW_WAIT_MS = 30_000;
const BOOT_TIMEOUT_MS = 90_000;
const REACH_TIMEOUT_MS = 40_000;
/**
 * systemd-analyze security's overall exposure (0 best, 10 worst) that ec2netd.service must not exceed: 2.5 as
 * measured under systemd 252 (4.0 before the system-call filter and ProtectProc=; what is left is running as root
 * with network privileges on the host's network, which is the job).
 */
const MAX_EXPOSURE = 2.5;

/** The major version of a node binary. */
function nodeMajor(version: string): number {
  return Number(/^v(\d+)\./.exec(version.trim())?.[1] ?? NaN);
}

const hostNode = spawnSync(process.execPath, ['--version'], { encoding: 'utf8' }).stdout.trim();

const variants = [
  { name: "Debian 12's own nodejs", node: undefined, major: 18 },
  { name: `node ${hostNode} over /usr/bin/node`, node: process.execPath, major: nodeMajor(hostNode) },
];

for (const variant of variants) {
  describe(`the .deb on a booted Debian 12, ${variant.name}`, { skip: isRoot && HOST_ARCH ? false : 'needs root and a package for this architecture' }, () => {
    let vpc: Vpc;
    let box: Container;
    const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');
    /** The DHCPACKs a DHCP client has logged (dhclient -d logs each exchange to the journal). */
    const acks = async (ifname: string) => lines(await box.journal(`${DHCLIENT_UNIT}${ifname}.service`)).filter((l) => l.startsWith('DHCPACK of ')).length;
    const dhclientPid = (ifname: string) => box.unitProperty(`${DHCLIENT_UNIT}${ifname}.service`, 'MainPID');
    /** The main table's routes of the secondaries, one per line. */
    const subnetRoutes = async () => (await vpc.exec('instance', ['ip', '-4', 'route', 'show', 'table', 'main'])).stdout.split('\n').map((l) => l.trim()).join('\n');
    /** What the container's ec2net units logged, for a failure's message. */
    const ec2netLog = async () => (await box.exec(['journalctl', '--no-pager', '-o', 'short-monotonic', '-n', '60', '-u', 'ec2netd', '-u', 'ec2ifscan', '-u', `${DHCLIENT_UNIT}*`])).stdout;
    const allReachable = async (enis: typeof ENI0[]) => {
      const { failed } = await reach(vpc, enis.flatMap((e) => addressesOf(e)));
      if (failed.length > 0) assert.fail(`not reachable: ${failed.join(' ')}\n${await ec2netLog()}`);
    };

    before(async () => {
      const built = await packages();
      vpc = await Vpc.create({ subnets: SUBNETS, dhcpRenewSeconds: RENEW_SECONDS });
      // Installed as an image build would (no network, no systemd running: the postinst only enables the units),
      // then booted. No ENI is attached yet: the primary's address comes after the boot has started.
      box = await Container.boot(vpc, {
        ...(variant.node ? { node: variant.node } : {}),
        files: { [DEB]: packageFile(built, 'deb', HOST_ARCH as Arch) },
        prepare: [['apt-get', 'install', '--yes', DEB]],
      });
    }, { timeout: BUILD_TIMEOUT_MS + BOOT_TIMEOUT_MS });

    after(async () => {
      await box?.stop();
      await vpc?.destroy();
    });

    test(`runs ${variant.major === 18 ? 'Debian\'s node 18' : `node ${variant.major}`}; the install printed no warning`, async () => {
      assert.equal(nodeMajor(await box.must(['node', '--version'])), variant.major);
      assert.doesNotMatch(box.prepared.join(''), /warning/i);
    });

    test('ec2netd is active and READY before IMDS can be reached; ec2ifscan.service waits for the primary ENI instead of failing the boot', async () => {
      // Type=notify: "active" only once READY=1 came.
      await eventually(async () => assert.equal(await box.unitProperty('ec2netd.service', 'ActiveState'), 'active'), BOOT_TIMEOUT_MS, 500);
      assert.equal(await box.unitProperty('ec2ifscan.service', 'ActiveState'), 'activating', 'ec2ifscan should be waiting for IMDS');
      await vpc.attach(ENI0);
      await eventually(async () => {
        assert.equal(await box.unitProperty('ec2ifscan.service', 'Result'), 'success');
        assert.equal(await box.unitProperty('ec2ifscan.service', 'ActiveState'), 'active');
      }, BOOT_TIMEOUT_MS, 500);
      const state = (await box.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: BOOT_TIMEOUT_MS })).stdout.trim();
      assert.equal(state, 'running', `${state}: ${(await box.exec(['systemctl', '--failed', '--no-legend'])).stdout}`);
      // No node warning at start (--jitless used to print one about --expose_wasm on node 18).
      assert.deepEqual(lines(await box.journal('ec2netd.service')).filter((l) => /warning/i.test(l) && !/"level"/.test(l)), []);
    });

    test('ec2netd runs under its whole sandbox, MemoryDenyWriteExecute=yes included; systemd-analyze security says how exposed it is', async (t) => {
      assert.equal(await box.unitProperty('ec2netd.service', 'MemoryDenyWriteExecute'), 'yes');
      const out = await box.must(['systemd-analyze', 'security', '--no-pager', 'ec2netd.service']);
      const exposure = Number(/Overall exposure level for ec2netd\.service: ([0-9.]+)/.exec(out)?.[1]);
      t.diagnostic(`systemd-analyze security ec2netd.service: exposure ${exposure}`);
      t.diagnostic(out.split('\n').filter((l) => l.startsWith('✗')).join('\n'));
      assert.ok(exposure <= MAX_EXPOSURE, out);
    });

    test('two ENIs hot-plugged: every address is reachable from the remote host, each DHCP client in a unit of its own', async () => {
      await vpc.attach(ENI1);
      await vpc.attach(ENI2);
      await eventually(() => allReachable([ENI0, ENI1, ENI2]), REACH_TIMEOUT_MS, 200);
      const rules = await ruleLines(vpc);
      assert.ok(rules.includes('10001 from 10.0.2.11/32 lookup 10001 proto 236'), rules.join('\n'));
      assert.ok(rules.includes('10002 from 10.0.1.48/28 lookup 10002 proto 236'), rules.join('\n'));
      // The unit hands the script the lease's subnet route metric (EnvironmentFile=, dhclient -e): eth2 is in the
      // primary's subnet, and its route ranks behind the primary's.
      assert.match(await subnetRoutes(), /10\.0\.1\.0\/24 dev eth2 proto kernel scope link src 10\.0\.1\.20 metric 10002/);
      for (const ifname of ['eth1', 'eth2']) {
        assert.equal(await box.unitProperty(`${DHCLIENT_UNIT}${ifname}.service`, 'ActiveState'), 'active', ifname);
        assert.notEqual(await dhclientPid(ifname), '0');
      }
    });

    test('systemctl restart ec2netd: the DHCP clients keep running, and renew', async (t) => {
      const pids = [await dhclientPid('eth1'), await dhclientPid('eth2')];
      const before = await acks('eth1');
      await box.must(['systemctl', 'restart', 'ec2netd.service']);
      assert.equal(await box.unitProperty('ec2netd.service', 'ActiveState'), 'active');
      assert.deepEqual([await dhclientPid('eth1'), await dhclientPid('eth2')], pids);
      // A renewal is a DHCPACK answering the client's REQUEST at T1, logged by the client after the restart.
      const t0 = Date.now();
      await eventually(async () => assert.ok((await acks('eth1')) > before, 'no renewal yet'), RENEW_WAIT_MS, 250);
      t.diagnostic(`a renewal ${Date.now() - t0} ms after the restart (T1 ${RENEW_SECONDS} s)`);
      // The renewal's script kept the metric.
      assert.match(await subnetRoutes(), /10\.0\.2\.0\/24 dev eth1 proto kernel scope link src 10\.0\.2\.10 metric 10001/);
      await allReachable([ENI0, ENI1, ENI2]);
    });

    test('an upgrade\'s maintainer scripts (apt-get install --reinstall) print no warning, restart ec2netd and leave the DHCP clients running', async () => {
      const pids = [await dhclientPid('eth1'), await dhclientPid('eth2')];
      const daemon = await box.unitProperty('ec2netd.service', 'MainPID');
      const r = await box.exec(['apt-get', 'install', '--reinstall', '--yes', DEB], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /warning/i);
      await eventually(async () => assert.equal(await box.unitProperty('ec2netd.service', 'ActiveState'), 'active'), BOOT_TIMEOUT_MS, 250);
      assert.notEqual(await box.unitProperty('ec2netd.service', 'MainPID'), daemon, 'ec2netd was not restarted');
      assert.deepEqual([await dhclientPid('eth1'), await dhclientPid('eth2')], pids);
      await allReachable([ENI0, ENI1, ENI2]);
    });

    test('an error of ec2net reaches the journal at priority err, information does not', async () => {
      const r = await box.exec(['systemd-run', '--wait', '--collect', '--quiet', '--unit=ec2net-error-probe', '/usr/sbin/ec2ifup', 'nosuch0']);
      assert.notEqual(r.code, 0);
      const errors = lines(await box.journal('ec2net-error-probe.service', 'err'));
      assert.ok(errors.some((l) => l.includes('nosuch0')), `journalctl -p err shows: ${errors.join('\n')}`);
      // The daemon's information lines are there, below err.
      assert.ok(lines(await box.journal('ec2netd.service')).some((l) => l.includes('ready')));
      assert.deepEqual(lines(await box.journal('ec2netd.service', 'err')), []);
    });

    test('detach: its rules, files, record and DHCP client are gone', async () => {
      await vpc.detach(ENI2.id);
      await eventually(async () => {
        assert.deepEqual((await ruleLines(vpc)).filter((l) => l.includes('lookup 10002')), []);
        assert.equal(await box.unitProperty(`${DHCLIENT_UNIT}eth2.service`, 'ActiveState'), 'inactive');
        const left = (await box.exec(['sh', '-c', `ls /run/ec2net/state/${ENI2.mac}.json /run/ec2net/dhclient-eth2.* /etc/sysconfig/network-scripts/*eth2 /etc/dhcp/dhclient-eth2.conf 2>/dev/null`])).stdout;
        assert.equal(left, '');
      }, 20_000, 250);
      assert.equal((await box.exec(['pgrep', '-f', 'dhclient.* eth2$'])).stdout, '');
      await allReachable([ENI0, ENI1]);
    });

    test('apt-get purge leaves nothing of ec2net and prints no warning', async () => {
      const r = await box.exec(['apt-get', 'purge', '--yes', 'ec2net'], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /warning/i);
      const left = await box.exec(['sh', '-c', 'find /etc /usr /var /run /lib -name "*ec2net*" -o -path /etc/sysconfig 2>/dev/null; systemctl list-units --all --no-legend --plain "ec2net*" "ec2ifscan*"']);
      assert.equal(left.stdout, '');
      assert.equal((await box.exec(['pgrep', '-x', 'dhclient'])).stdout, '');
    });
  });
}
