/**
 * What an operator sees in the simulated VPC: `ec2net status` and `ec2net plan --diff` as an unprivileged user
 * (nobody) beside root, the exit statuses of the commands that change things when they cannot, `ec2ifup lo`, and
 * the interfaces bash completion offers.
 * The file tree is shaped as the package leaves it: /etc readable by all, /run/ec2net root's only (its tmpfiles.d
 * entry makes it 0700).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { KINDS } from '../../src/errors.js';
import type { InterfaceStatus, StatusReport } from '../../src/agent/status.js';
import { Vpc } from '../vpc/vpc.js';
import { ENI0, ENI1, ENI2, SUBNETS, agent, newRoot, succeeded } from '../support/agent.js';
import { completionProgram, offers } from '../support/completion.js';

const COMPLETION = fileURLToPath(new URL('../../../completion/ec2net', import.meta.url));

describe('status, plan --diff and exit statuses, as root and as nobody', () => {
  let vpc: Vpc;
  let root: string;
  const nobody = { unprivileged: true };
  const statusOf = async (opts = {}) => {
    const r = succeeded(await agent(vpc, root, 'ec2net', ['status', '--json'], opts), 'ec2net status --json');
    return JSON.parse(r.stdout) as Omit<StatusReport, 'daemonRunning'> & { daemonRunning: boolean | null };
  };

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    for (const eni of [ENI0, ENI1, ENI2]) await vpc.attach(eni);
    root = newRoot();
    // The sandbox's TMPDIR is root's (0700): others may pass through it to the tree, as they may through /.
    chmodSync(tmpdir(), 0o711);
    chmodSync(root, 0o755);
    mkdirSync(`${root}/run/ec2net`, { recursive: true, mode: 0o700 });
    chmodSync(`${root}/run/ec2net`, 0o700);
    succeeded(await agent(vpc, root, 'ec2ifup', ['eth1']), 'ec2ifup eth1');
    succeeded(await agent(vpc, root, 'ec2ifup', ['eth2']), 'ec2ifup eth2');
  });
  after(async () => vpc?.destroy());

  test('status as nobody: exit 0, the kernel\'s view of every ENI with rules, the same as root\'s; what needs root is said', async () => {
    const asRoot = await statusOf();
    assert.equal(asRoot.daemonRunning, false);
    assert.equal(asRoot.needsRoot, undefined);
    const asNobody = await statusOf(nobody);
    assert.equal(asNobody.daemonRunning, null);
    assert.ok((asNobody.needsRoot ?? []).length > 0);
    const shown = (list: readonly InterfaceStatus[]) => list.map(({ ifname, mac, eniId, deviceNumber, networkCard, table, primary, addresses, rules, routes }) => ({ ifname, mac, eniId, deviceNumber, networkCard, table, primary, addresses, rules, routes }));
    assert.deepEqual(shown(asNobody.interfaces), shown(asRoot.interfaces));
    assert.deepEqual(asNobody.interfaces.map((s) => s.eniId), [ENI1.id, ENI2.id]);
    assert.ok(asNobody.interfaces.every((s) => s.rules.length > 0 && s.routes.length > 0));

    const text = await agent(vpc, root, 'ec2net', ['status'], nobody);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^daemon: unknown \(its socket is root's\)\nnot root: shown as the kernel holds it; run as root for the rest:\n/);
    assert.match(text.stdout, new RegExp(`^eth1  ${ENI1.id}  mac ${ENI1.mac}  device 1 card 0  table 10001$`, 'm'));
    assert.match(text.stdout, /^ {2}rule {3}from 10\.0\.2\.11\/32 lookup 10001 priority 10001 proto 236$/m);
  });

  test('plan --diff: nothing to change once converged; a deleted rule and an edited file show, as root and as nobody', async () => {
    const clean = await agent(vpc, root, 'ec2net', ['plan', '--diff', 'eth1']);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, /\nnothing to change\n$/);

    assert.equal((await vpc.exec('instance', ['ip', 'rule', 'del', 'from', '10.0.2.11', 'lookup', '10001', 'priority', '10001'])).code, 0);
    const ifcfg = `${root}/etc/sysconfig/network-scripts/ifcfg-eth1`;
    const text = readFileSync(ifcfg, 'utf8');
    writeFileSync(ifcfg, text.replace('PEERDNS=no', 'PEERDNS=yes'));
    try {
      for (const opts of [{}, nobody]) {
        const r = await agent(vpc, root, 'ec2net', ['plan', '--diff', 'eth1'], opts);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^kernel:\n\+ rule {4}from 10\.0\.2\.11\/32 lookup 10001 priority 10001 proto 236$/m);
        assert.match(r.stdout, new RegExp(`^--- ${ifcfg}\\n\\+\\+\\+ ${ifcfg}\\n@@ -3,7 \\+3,7 @@\\n(?: .*\\n){3}-PEERDNS=yes\\n\\+PEERDNS=no\\n`, 'm'));
        if (opts === nobody) assert.match(r.stdout, /^not root: not shown \(run as root for it\):\n {2}- secondary addresses ec2net added earlier/m);
        else assert.doesNotMatch(r.stdout, /not root/);
      }
      // Nothing was changed by looking.
      assert.equal(readFileSync(ifcfg, 'utf8'), text.replace('PEERDNS=no', 'PEERDNS=yes'));
    } finally {
      writeFileSync(ifcfg, text);
      succeeded(await agent(vpc, root, 'ec2ifup', ['eth1']), 'ec2ifup eth1');
    }
  });

  test('commands that change things refuse nobody with 34 (PermissionDenied), saying root is needed', async () => {
    for (const [command, args] of [['ec2ifup', ['eth1']], ['ec2ifdown', ['eth1']], ['ec2ifscan', []], ['ec2net', ['cleanup']]] as const) {
      const r = await agent(vpc, root, command, [...args], nobody);
      assert.equal(r.code, KINDS.PermissionDenied.exit, `${command}: ${r.stderr}`);
      assert.match(r.stderr, /must run as root/);
    }
  });

  test('bash completion offers the Ethernet links, not lo, for the one interface a command takes, and none after it', async () => {
    const complete = async (...words: string[]) => {
      const r = await vpc.exec('instance', ['bash', '-c', completionProgram(COMPLETION), 'bash', ...words]);
      assert.equal(r.code, 0, r.stderr);
      return offers(r.stdout).sort();
    };
    const links = JSON.parse((await vpc.exec('instance', ['ip', '-j', 'link', 'show'])).stdout) as { ifname: string; link_type: string }[];
    const ether = links.filter((l) => l.link_type === 'ether').map((l) => l.ifname).sort();
    assert.deepEqual(ether, ['eth0', 'eth1', 'eth2']);
    for (const words of [['ec2ifup', ''], ['ec2ifdown', '--verbose', ''], ['ec2ifup', '--root', '/x', ''], ['ec2net', 'plan', '--diff', '']]) {
      assert.deepEqual(await complete(...words), ether, words.join(' '));
    }
    assert.deepEqual(await complete('ec2ifup', 'l'), []);
    for (const words of [['ec2ifup', 'eth1', ''], ['ec2ifdown', 'eth1', '--verbose', ''], ['ec2net', 'plan', 'eth1', ''], ['ec2net', 'status', ''], ['ec2ifscan', '']]) {
      assert.deepEqual(await complete(...words), [], words.join(' '));
    }
  });

  test('ec2ifup lo: 33 (NotEthernet) at once, "lo is not an ENI"; a missing interface 32, a MAC IMDS does not list 22', async () => {
    const started = Date.now();
    const lo = await agent(vpc, root, 'ec2ifup', ['lo']);
    assert.equal(lo.code, KINDS.NotEthernet.exit, lo.stderr);
    assert.match(lo.stderr, /lo is not an ENI \(a loopback link\)/);
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    const plan = await agent(vpc, root, 'ec2net', ['plan', 'lo'], nobody);
    assert.equal(plan.code, KINDS.NotEthernet.exit, plan.stderr);

    const missing = await agent(vpc, root, 'ec2ifup', ['eth9']);
    assert.equal(missing.code, KINDS.NoSuchInterface.exit, missing.stderr);

    const veth = await vpc.exec('instance', ['ip', 'link', 'add', 'vx0', 'type', 'veth', 'peer', 'name', 'vx1']);
    assert.equal(veth.code, 0, veth.stderr);
    const foreign = await agent(vpc, root, 'ec2ifup', ['vx0']);
    assert.equal(foreign.code, KINDS.NotAnEni.exit, foreign.stderr);
  });
});
