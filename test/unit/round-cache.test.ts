/**
 * What the daemon's refresh round keeps between rounds, and when it stops holding: every entry is dropped
 * explicitly (forget, clear), and a verification ends with any kernel notification or a different plan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundCache } from '../../src/daemon/round-cache.js';
import type { EniMetadata } from '../../src/model/metadata.js';
import type { Plan } from '../../src/planner/plan.js';

const MAC = '02:00:00:00:00:02';
const meta = (n: number) => ({ mac: MAC, n }) as unknown as EniMetadata;
const plan = (n: number) => ({ ifname: 'eth1', n }) as unknown as Plan;
const LINK = { index: 3, name: 'eth1', mac: MAC, up: true, altnames: [] };

test('metadata and plans come back only for the same answers, metadata object and inputs', () => {
  const c = new RoundCache();
  const m = c.keepMetadata(MAC, 'answers-1', meta(1));
  assert.equal(c.metadata(MAC, 'answers-1'), m);
  assert.equal(c.metadata(MAC, 'answers-2'), undefined);
  assert.equal(c.metadata('02:00:00:00:00:03', 'answers-1'), undefined);
  const p = c.keepPlan(MAC, m, 'inputs-1', plan(1));
  assert.equal(c.plan(MAC, m, 'inputs-1'), p);
  assert.equal(c.plan(MAC, meta(1), 'inputs-1'), undefined, 'another metadata object, even an equal one');
  assert.equal(c.plan(MAC, m, 'inputs-2'), undefined);
});

test('a verification holds until a kernel notification, and only for the plan it verified', () => {
  const c = new RoundCache();
  const p = plan(1);
  c.keepVerified(MAC, c.kernelGeneration(), { plan: p, link: LINK, kernel: {} });
  assert.equal(c.verified(MAC, p)?.link, LINK);
  assert.equal(c.verified(MAC, plan(1)), undefined);
  c.kernelChanged();
  assert.equal(c.verified(MAC, p), undefined);
  // Taken before a notification that came while the snapshot was read: stale at once.
  const before = c.kernelGeneration();
  c.kernelChanged();
  c.keepVerified(MAC, before, { plan: p, link: LINK, kernel: {} });
  assert.equal(c.verified(MAC, p), undefined);
});

test('forget drops one ENI, clear every ENI', () => {
  const c = new RoundCache();
  const other = '02:00:00:00:00:03';
  for (const mac of [MAC, other]) {
    c.keepMetadata(mac, 'a', meta(1));
    c.keepVerified(mac, c.kernelGeneration(), { plan: plan(1), link: LINK, kernel: {} });
  }
  c.forget(MAC);
  assert.equal(c.metadata(MAC, 'a'), undefined);
  assert.ok(c.metadata(other, 'a'));
  c.clear();
  assert.equal(c.metadata(other, 'a'), undefined);
});
