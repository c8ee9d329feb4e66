/**
 * (h) The udev rules under the real udevadm: `udevadm test --action=add|remove` on ENIs in the instance namespace
 * of a simulated VPC. udevadm runs in a mount namespace of its own (unshare --mount, inside `ip netns exec`, inside
 * the sandbox) with an empty tmpfs on /run, where it finds our rules (/run/udev/rules.d) and keeps its database,
 * and an empty tmpfs over /etc/udev/rules.d: the host's udev rules, database and daemon are never read or
 * written, and nothing is triggered. The distribution's rules in /usr/lib/udev/rules.d do run, as on an
 * instance: 80-net-setup-link.rules is the one that sets ID_NET_DRIVER. `udevadm test` applies a NAME= rename,
 * here to the namespace's own interface; it runs no RUN program, it prints it.
 *
 * The simulated ENIs are veth devices, driver `veth`, which the real rules rightly ignore: case 1 shows that.
 * Case 2 runs a copy of the rules whose driver match also lists `veth`, and whose persistent-name line drops
 * DRIVERS=="?*" (a veth has no driver-bound parent device, as an ENI's PCI device is): it is the only way to make
 * a veth stand for an ENI, and it shows that everything after the driver match does what the design says.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PERSISTENT_NET_RULES_FILE, renderPersistentNetRules } from '../../src/render/udev.js';
import { Vpc, type EniSpec } from '../vpc/vpc.js';

const HOTPLUG_RULES = fileURLToPath(new URL('../../../udev/90-ec2net.rules', import.meta.url));
const CLEANUP_RUN = '/usr/bin/systemctl --no-block start ec2net-cleanup.service';
const UDEVADM_TIMEOUT_MS = 60_000;

const ENI_REAL: EniSpec = { id: 'eni-00000000000000e01', mac: '02:ec:00:00:0e:01', ifname: 'eth1', subnet: 's1', deviceNumber: 1, ipv4s: ['10.0.1.21'] };
const ENI_COPY: EniSpec = { id: 'eni-00000000000000e02', mac: '02:ec:00:00:0e:02', ifname: 'eth2', subnet: 's1', deviceNumber: 2, ipv4s: ['10.0.1.22'] };

/**
 * $1: a directory of rules files, $2: an interface. Prints "@@ add IF", udevadm test's add output, then
 * "@@ remove NAME" (NAME: the interface's name after the add, found by ifindex) and the remove output.
 */
const SCRIPT = `set -eu
mount -t tmpfs ec2net-udev-run /run
mkdir -p /run/udev/rules.d
cp "$1"/*.rules /run/udev/rules.d/
if [ -d /etc/udev/rules.d ]; then mount -t tmpfs ec2net-udev-etc /etc/udev/rules.d; fi
index=$(cat "/sys/class/net/$2/ifindex")
echo "@@ add $2"
udevadm test --action=add "/sys/class/net/$2"
name=
for dev in /sys/class/net/*; do
  if [ "$(cat "$dev/ifindex")" = "$index" ]; then name=\${dev##*/}; fi
done
echo "@@ remove $name"
udevadm test --action=remove "/sys/class/net/$name"
`;

interface UdevRun {
  /** The interface name each section was run on. */
  target: string;
  props: Map<string, string>;
  run: string[];
}

function parseSections(stdout: string): Record<'add' | 'remove', UdevRun> {
  const sections: Partial<Record<'add' | 'remove', UdevRun>> = {};
  let current: UdevRun | undefined;
  for (const line of stdout.split('\n')) {
    const header = /^@@ (add|remove) (\S+)$/.exec(line);
    if (header) {
      current = { target: header[2] as string, props: new Map(), run: [] };
      sections[header[1] as 'add' | 'remove'] = current;
      continue;
    }
    const run = /^run: '(.*)'$/.exec(line);
    if (run) current?.run.push(run[1] as string);
    const prop = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (prop) current?.props.set(prop[1] as string, prop[2] as string);
  }
  assert.ok(sections.add && sections.remove, `no add and remove sections in:\n${stdout}`);
  return sections as Record<'add' | 'remove', UdevRun>;
}

describe('(h) udev rules under udevadm test, in the instance namespace', () => {
  let vpc: Vpc;
  const hotplug = readFileSync(HOTPLUG_RULES, 'utf8');
  const dirs: string[] = [];

  const rulesDir = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), 'ec2net-udev-rules-'));
    dirs.push(dir);
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return dir;
  };

  const udevadmTest = async (dir: string, ifname: string) => {
    const r = await vpc.exec('instance', ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', SCRIPT, 'sh', dir, ifname], {
      timeoutMs: UDEVADM_TIMEOUT_MS,
    });
    assert.equal(r.code, 0, `udevadm test failed (${r.code}):\n${r.stderr}`);
    for (const file of ['90-ec2net.rules', PERSISTENT_NET_RULES_FILE]) {
      assert.ok(r.stderr.includes(`Reading rules file: /run/udev/rules.d/${file}`), `udevadm did not read ${file}:\n${r.stderr}`);
    }
    return { ...parseSections(r.stdout), stderr: r.stderr };
  };

  before(async () => {
    const found = spawnSync('udevadm', ['--version'], { encoding: 'utf8' });
    assert.equal(found.status, 0, 'udevadm not found: install the Debian package udev (scripts/apt-packages.txt)');
    vpc = await Vpc.create({ subnets: [{ name: 's1', cidr: '10.0.1.0/24' }] });
    await vpc.attach(ENI_REAL);
    await vpc.attach(ENI_COPY);
  });
  after(async () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await vpc?.destroy();
  });

  test('1: with the real rules a veth, whose driver is veth, is neither renamed nor configured nor cleaned up', async () => {
    const persistent = renderPersistentNetRules('/unused', [{ mac: ENI_REAL.mac, name: 'eth7' }]).content;
    const r = await udevadmTest(rulesDir({ '90-ec2net.rules': hotplug, [PERSISTENT_NET_RULES_FILE]: persistent }), ENI_REAL.ifname);
    assert.equal(r.add.props.get('ID_NET_DRIVER'), 'veth', 'the driver ethtool reports, set by 80-net-setup-link.rules');
    assert.equal(r.add.props.get('INTERFACE'), 'eth1', 'DRIVERS=="?*" keeps a device without a driver-bound parent from taking the name');
    assert.ok(!(r.add.props.get('SYSTEMD_WANTS') ?? '').includes('ec2net'), `SYSTEMD_WANTS=${r.add.props.get('SYSTEMD_WANTS')}`);
    assert.equal(r.remove.target, 'eth1');
    for (const section of [r.add, r.remove]) assert.deepEqual(section.run.filter((c) => c.includes('ec2net')), []);
  });

  test('2: with a copy that also accepts veth, add renames by MAC and wants ec2net-ifup@NAME; remove starts the cleanup', async () => {
    // The copy: the driver list gains veth, and the persistent-name line loses DRIVERS=="?*" (see the file comment).
    const copy = hotplug.replace('ENV{ID_NET_DRIVER}!="ena|ixgbevf|vif"', 'ENV{ID_NET_DRIVER}!="ena|ixgbevf|vif|veth"');
    assert.notEqual(copy, hotplug, 'the driver match of 90-ec2net.rules changed; update this copy');
    const rendered = renderPersistentNetRules('/unused', [{ mac: ENI_COPY.mac, name: 'eth9' }]).content;
    const persistent = rendered.replace('DRIVERS=="?*", ', '');
    assert.notEqual(persistent, rendered, 'the persistent-name line changed; update this copy');

    const r = await udevadmTest(rulesDir({ '90-ec2net.rules': copy, [PERSISTENT_NET_RULES_FILE]: persistent }), ENI_COPY.ifname);
    assert.equal(r.add.props.get('ID_NET_DRIVER'), 'veth');
    assert.equal(r.add.props.get('INTERFACE_OLD'), 'eth2');
    assert.equal(r.add.props.get('INTERFACE'), 'eth9', 'renamed by the MAC in 70-ec2net-persistent-net.rules');
    assert.equal(r.add.props.get('SYSTEMD_WANTS'), 'ec2net-ifup@eth9.service', 'wanted under the name it ends up with');
    assert.ok((r.add.props.get('TAGS') ?? '').split(':').includes('systemd'));
    assert.deepEqual(r.add.run.filter((c) => c.includes('ec2net')), [], 'add hands off to systemd and runs nothing');
    assert.equal(r.remove.target, 'eth9');
    assert.deepEqual(r.remove.run.filter((c) => c.includes('ec2net')), [CLEANUP_RUN]);
    const link = await vpc.exec('instance', ['ip', '-br', 'link', 'show', 'dev', 'eth9']);
    assert.equal(link.code, 0, 'the rename happened in the instance namespace');
  });
});
