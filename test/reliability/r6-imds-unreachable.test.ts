/**
 * R6: IMDS unreachable (connection refused, or no route). The daemon starts anyway, says why in its status and
 * logs, retries with backoff, never crash-loops, and never removes the configuration already in place.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Vpc } from '../vpc/vpc.js';
import { ENI0, ENI1, SUBNETS, agent, addressLines, newRoot, reach, ruleLines, startDaemon, type RunningDaemon } from '../support/agent.js';
import { report } from '../support/figures.js';

const REFRESH_SECONDS = 2;
const WATCH_MS = 4 * REFRESH_SECONDS * 1000;

describe('R6 IMDS unreachable', () => {
  let vpc: Vpc;
  let root: string;
  let daemon: RunningDaemon | undefined;
  const figures: Record<string, string | number> = {};

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    await vpc.attach(ENI0);
    await vpc.attach(ENI1);
    root = newRoot();
    const r = await agent(vpc, root, 'ec2ifscan');
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await daemon?.kill('SIGTERM');
    await vpc?.destroy();
  });

  for (const [name, url, reason] of [
    ['refused', 'http://10.0.1.1:81', /ECONNREFUSED/],
    ['no route', 'http://203.0.113.254', /EHOSTUNREACH|ENETUNREACH|no connection within/],
  ] as const) {
    test(`${name}: the daemon starts, reports why, keeps what is configured, and does not crash-loop`, async () => {
      const rules = await ruleLines(vpc);
      const addrs = await addressLines(vpc, 'eth1');
      const d = startDaemon(vpc, root, { EC2NET_REFRESH_SECONDS: String(REFRESH_SECONDS), EC2NET_IMDS_URL: url });
      daemon = d;
      const t0 = Date.now();
      await d.waitFor((r) => r.msg === 'ready', 60_000);
      const readyMs = Date.now() - t0;
      const watchStart = Date.now();
      while (Date.now() - watchStart < WATCH_MS) {
        assert.deepEqual(await ruleLines(vpc), rules, 'rules unchanged');
        assert.deepEqual(await addressLines(vpc, 'eth1'), addrs, 'addresses unchanged');
        await new Promise((r) => setTimeout(r, 500));
      }
      const status = await agent(vpc, root, 'ec2net', ['status', '--json']);
      assert.equal(status.code, 0, status.stderr);
      const doc = JSON.parse(status.stdout) as { daemonRunning: boolean; interfaces: { ifname: string; daemon?: { lastError?: { kind: string; message: string } } }[] };
      assert.equal(doc.daemonRunning, true);
      const eth1 = doc.interfaces.find((i) => i.ifname === 'eth1');
      assert.equal(eth1?.daemon?.lastError?.kind, 'Transient');
      assert.match(eth1?.daemon?.lastError?.message ?? '', reason);
      const errors = d.records.filter((r) => r.level === 50 && r.iface === 'eth1').map((r) => Number(r.time));
      const gaps = errors.slice(1).map((t, i) => t - (errors[i] as number));
      // Backoff: attempts are spaced out, never a tight loop; at most one per refresh period once backed off.
      assert.ok(errors.length >= 1 && errors.length <= Math.ceil(WATCH_MS / 1000) + 2, `${errors.length} failed attempts in ${WATCH_MS} ms`);
      assert.ok(gaps.every((g) => g >= 1_000), `gaps ${gaps.join(',')}`);
      assert.equal(await d.kill('SIGTERM'), 0, 'still running, stops cleanly');
      daemon = undefined;
      assert.deepEqual((await reach(vpc, ENI1.ipv4s)).failed, []);
      figures[`${name}: ready ms`] = readyMs;
      figures[`${name}: failed attempts in ${WATCH_MS / 1000} s`] = errors.length;
      figures[`${name}: min gap ms`] = gaps.length ? Math.min(...gaps) : 'n/a';
    });
  }

  test('summary', () => {
    report({ id: 'R6', title: 'IMDS unreachable', outcome: 'held', figures: { ...figures, removed: 0, crashes: 0 } });
  });
});
