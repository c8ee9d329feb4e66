/**
 * R1: IMDS faults during refresh and re-runs; R7: foreign state is never touched. The daemon runs with a short
 * refresh period while IMDS answers 5xx bursts, stalls, drops connections, expires tokens early and answers 429.
 * Nothing configured may be removed, the agent must converge within two refresh periods after recovery, and its
 * request count must stay under a ceiling derived from its retry bounds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KINDS } from '../../src/errors.js';
import { Vpc, type Fault } from '../vpc/vpc.js';
import { ENI0, ENI1, ENI2, SUBNETS, addressLines, agent, eventually, newRoot, reach, routeLines, ruleLines, startDaemon, type RunningDaemon } from '../support/agent.js';
import { report } from '../support/figures.js';
import { MAX_ATTEMPTS } from '../../src/imds/client.js';

const REFRESH_SECONDS = 4;
const META = '/latest/meta-data/';
/** GETs in one ENI refresh: the macs listing, the top-level mac, and six per-ENI keys. */
const GETS_PER_REFRESH = 8;

// R7: state of other owners, in the styles of a container CNI and of a user's static routes in the ENI table range.
const FOREIGN = [
  ['ip', 'rule', 'add', 'fwmark', '0x80/0x80', 'lookup', 'main', 'priority', '1024', 'proto', 'static'],
  ['ip', 'rule', 'add', 'from', '10.0.2.0/24', 'to', '10.0.9.0/24', 'lookup', 'main', 'priority', '512', 'proto', 'static'],
  ['ip', 'rule', 'add', 'from', '10.0.2.11', 'lookup', '10001', 'priority', '9000', 'proto', 'boot'],
  ['ip', 'route', 'add', '192.0.2.0/24', 'via', '10.0.1.1', 'dev', 'eth0', 'table', '10001', 'proto', 'static'],
  ['ip', 'route', 'add', '203.0.113.0/24', 'via', '10.0.1.1', 'dev', 'eth0', 'table', '10002', 'proto', 'boot'],
  ['ip', 'route', 'add', '198.18.0.0/15', 'via', '10.0.1.1', 'dev', 'eth0', 'proto', 'static'],
];

interface Phase {
  name: string;
  fault?: Fault;
  path?: string;
  expireTokens?: boolean;
}

const PHASES: Phase[] = [
  { name: '5xx burst', path: META, fault: { status: 500 } },
  { name: 'token endpoint 503', path: '/latest/api/token', fault: { status: 503 } },
  { name: 'stall 3 s', path: META, fault: { delayMs: 3000 } },
  { name: 'connection reset', path: META, fault: { reset: true } },
  { name: 'tokens expire early', expireTokens: true },
  { name: '429 throttling', path: META, fault: { status: 429 } },
];
const PHASE_MS = 6_000;

describe('R1/R7 IMDS faults during refresh; foreign state', () => {
  let vpc: Vpc;
  let root: string;
  let daemon: RunningDaemon;

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    for (const e of [ENI0, ENI1, ENI2]) await vpc.attach(e);
    root = newRoot();
    for (const cmd of FOREIGN) assert.equal((await vpc.exec('instance', cmd)).code, 0, cmd.join(' '));
    daemon = startDaemon(vpc, root, { EC2NET_REFRESH_SECONDS: String(REFRESH_SECONDS) });
    await daemon.waitFor((r) => r.msg === 'ready', 60_000);
    await eventually(async () => assert.deepEqual((await reach(vpc, [...ENI1.ipv4s, ...ENI2.ipv4s])).failed, []), 30_000);
  });
  after(async () => {
    await daemon?.kill('SIGTERM');
    await vpc?.destroy();
  });

  test('nothing configured is removed during any fault; convergence within two periods after each; bounded requests', async () => {
    const foreignRules = (await ruleLines(vpc)).filter((l) => !l.endsWith(' proto 236'));
    const foreignRoutes = (await routeLines(vpc)).filter((l) => !l.endsWith(' proto 236'));
    const rows: string[] = [];
    let extra = 20;
    let totalRequests = 0;
    let worstConverge = 0;
    for (const phase of PHASES) {
      const baseline = { rules: await ruleLines(vpc), eth1: await addressLines(vpc, 'eth1'), eth2: await addressLines(vpc, 'eth2') };
      await vpc.imds.clearLog();
      if (phase.fault && phase.path) await vpc.imds.setFault(phase.path, phase.fault);
      // A change made while IMDS is failing: it must arrive once IMDS recovers.
      const newIp = `10.0.2.${extra++}`;
      await vpc.assignIpv4(ENI1.id, newIp);
      const faultStart = Date.now();
      let checks = 0;
      while (Date.now() - faultStart < PHASE_MS) {
        if (phase.expireTokens) await vpc.imds.expireTokens();
        const rules = await ruleLines(vpc);
        for (const l of baseline.rules) assert.ok(rules.includes(l), `${phase.name}: rule removed: ${l}`);
        for (const [dev, want] of [['eth1', baseline.eth1], ['eth2', baseline.eth2]] as const) {
          const have = await addressLines(vpc, dev);
          for (const a of want) assert.ok(have.includes(a), `${phase.name}: address removed: ${a} on ${dev}`);
        }
        checks++;
        await new Promise((r) => setTimeout(r, 400));
      }
      const faultMs = Date.now() - faultStart;
      await vpc.imds.clearFaults();
      const recovered = Date.now();
      await eventually(async () => assert.deepEqual((await reach(vpc, [newIp])).failed, []), 2 * REFRESH_SECONDS * 1000 + 15_000, 200);
      const convergeMs = Date.now() - recovered;
      worstConverge = Math.max(worstConverge, convergeMs);
      const requests = (await vpc.imds.requests()).filter((r) => r.time >= faultStart && r.time <= recovered);
      totalRequests += requests.length;
      // Ceiling: per ENI, one job at a time; a job makes at most GETS_PER_REFRESH × MAX_ATTEMPTS GETs plus as many
      // token PUTs, and a failed job is retried no sooner than 4 s later (2 s doubling).
      const enis = 3;
      const jobsPerEni = Math.ceil(faultMs / 4_000) + 1;
      const ceiling = enis * jobsPerEni * GETS_PER_REFRESH * MAX_ATTEMPTS * 2;
      assert.ok(requests.length <= ceiling, `${phase.name}: ${requests.length} requests > ceiling ${ceiling}`);
      assert.ok(convergeMs <= 2 * REFRESH_SECONDS * 1000 + 2_000, `${phase.name}: converged ${convergeMs} ms after recovery`);
      rows.push(`${phase.name}: ${requests.length} req (ceiling ${ceiling}), ${checks} checks, converged ${convergeMs} ms`);
      process.stdout.write(`#   ${rows.at(-1)}\n`);
    }
    // R7: every rule and route of another owner is still there, exactly as it was.
    assert.deepEqual((await ruleLines(vpc)).filter((l) => !l.endsWith(' proto 236')), foreignRules);
    assert.deepEqual((await routeLines(vpc)).filter((l) => !l.endsWith(' proto 236')), foreignRoutes);
    assert.equal(await daemon.kill('SIGTERM'), 0, 'the daemon survived every fault and stops cleanly');
    daemon = startDaemon(vpc, root, { EC2NET_REFRESH_SECONDS: String(REFRESH_SECONDS) });
    await daemon.waitFor((r) => r.msg === 'ready', 60_000);
    report({
      id: 'R1',
      title: 'IMDS faults during refresh',
      outcome: 'held',
      figures: {
        faults: PHASES.map((p) => p.name).join(' / '),
        phaseSeconds: PHASE_MS / 1000,
        refreshSeconds: REFRESH_SECONDS,
        imdsRequestsDuringFaults: totalRequests,
        removedDuringFaults: 0,
        worstConvergeMsAfterRecovery: worstConverge,
      },
    });
    report({
      id: 'R7',
      title: 'foreign rules and routes',
      outcome: 'held',
      figures: { foreignRules: FOREIGN.filter((c) => c[1] === 'rule').length, foreignRoutes: FOREIGN.filter((c) => c[1] === 'route').length, touched: 0 },
    });
  });

  test('ec2ifup re-run during a fault exits 20 (Transient), names the cause, and removes nothing', async () => {
    const before = await ruleLines(vpc);
    await vpc.imds.setFault(META, { status: 500 });
    const r = await agent(vpc, root, 'ec2ifup', ['eth1']);
    await vpc.imds.clearFaults();
    assert.equal(r.code, KINDS.Transient.exit, r.stderr);
    assert.match(r.stderr, /HTTP 500/);
    assert.deepEqual(await ruleLines(vpc), before);
  });
});
