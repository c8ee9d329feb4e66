/**
 * The daemon's decisions over fakes: a stateful kernel, IMDS, DHCP, a manual scheduler, and injected kernel events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Ec2netDaemon, MAX_REPAIRS_PER_WINDOW } from '../../src/daemon/daemon.js';
import { EC2NET_PROTOCOL } from '../../src/config.js';
import type { KernelEvent } from '../../src/ports/netlink-events.js';
import { FakeKernel } from '../fakes/kernel.js';
import { FakeImds, type FakeEni } from '../fakes/imds.js';
import { fakeContext } from '../fakes/context.js';
import { ManualScheduler } from '../fakes/scheduler.js';

const ETH0: FakeEni = { mac: '02:00:00:00:00:01', id: 'eni-00000000000000001', deviceNumber: 0, subnet: '10.0.1.0/24', ipv4s: ['10.0.1.10'] };
const ETH1: FakeEni = { mac: '02:00:00:00:00:02', id: 'eni-00000000000000002', deviceNumber: 1, subnet: '10.0.2.0/24', ipv4s: ['10.0.2.10', '10.0.2.11'] };

async function world() {
  const kernel = new FakeKernel({
    links_: [
      { index: 1, name: 'lo', mac: '00:00:00:00:00:00', up: true, altnames: [] },
      { index: 2, name: 'eth0', mac: ETH0.mac, up: true, altnames: [] },
      { index: 3, name: 'eth1', mac: ETH1.mac, up: false, altnames: [] },
    ],
    addresses_: [{ family: 4, dev: 'eth0', address: '10.0.1.10/24' }],
  });
  const imds = FakeImds.of([ETH0, ETH1]);
  const f = fakeContext(kernel, imds);
  f.dhcp.leases.set('eth1', '10.0.2.10/24');
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const ctx = { ...f.ctx, log: pino({ level: 'debug' }, sink) };
  const scheduler = new ManualScheduler();
  let emit: (e: KernelEvent) => void = () => undefined;
  const daemon = new Ec2netDaemon(ctx, {
    refreshMs: 60_000,
    concurrency: 2,
    debounceMs: 10,
    scheduler,
    subscribe: (l) => {
      emit = l;
      return { close: () => undefined };
    },
  });
  let done = false;
  const started = daemon.start().then(() => (done = true));
  for (let i = 0; i < 200 && !done; i++) await scheduler.advance(10);
  await started;
  /** Drives timers until the daemon has nothing queued (file I/O inside jobs needs real turns of the loop). */
  const until = async (ms = 50) => {
    for (let i = 0; i < 200 && (daemon.pending().length > 0 || i < 2); i++) await scheduler.advance(ms);
  };
  return { kernel, imds, ctx, root: f.root, daemon, scheduler, logs, emit: (e: KernelEvent) => emit(e), until };
}

const ours = (k: FakeKernel, table: number) => k.rules_.filter((r) => r.protocol === EC2NET_PROTOCOL && r.table === table);

test('startup configures every ENI it finds', async () => {
  const w = await world();
  assert.equal(ours(w.kernel, 10001).length, 2);
  assert.deepEqual(w.daemon.status().map((s) => s.ifname).sort(), ['eth0', 'eth1']);
  await w.daemon.stop();
});

test('a deleted owned rule is restored from the last plan, without asking IMDS', async () => {
  const w = await world();
  const rule = ours(w.kernel, 10001)[1];
  assert.ok(rule);
  w.kernel.rules_ = w.kernel.rules_.filter((r) => r !== rule);
  const requests = w.imds.requests.length;
  w.emit({ kind: 'rule', op: 'del', table: 10001, protocol: EC2NET_PROTOCOL, src: rule.src });
  await w.until();
  assert.equal(ours(w.kernel, 10001).length, 2);
  assert.equal(w.imds.requests.length, requests);
  assert.equal(w.daemon.status().find((s) => s.ifname === 'eth1')?.driftSeen, 1);
  await w.daemon.stop();
});

test('deleting a foreign rule triggers nothing', async () => {
  const w = await world();
  const calls = w.kernel.calls.length;
  w.emit({ kind: 'rule', op: 'del', table: 100, protocol: 4, src: '10.0.9.0/24' });
  await w.until();
  assert.equal(w.kernel.calls.length, calls);
  await w.daemon.stop();
});

test('something that keeps deleting our state gets a bounded number of repairs, then a backoff', async () => {
  const w = await world();
  const victim = ours(w.kernel, 10001)[0];
  assert.ok(victim);
  let restored = 0;
  for (let i = 0; i < MAX_REPAIRS_PER_WINDOW + 4; i++) {
    w.kernel.rules_ = w.kernel.rules_.filter((r) => !(r.src === victim.src && r.protocol === EC2NET_PROTOCOL));
    w.emit({ kind: 'rule', op: 'del', table: 10001, protocol: EC2NET_PROTOCOL, src: victim.src });
    await w.until();
    if (w.kernel.rules_.some((r) => r.src === victim.src)) restored++;
  }
  assert.equal(restored, MAX_REPAIRS_PER_WINDOW);
  assert.ok(w.logs.some((l) => l.msg === 'state keeps being deleted: backing off repairs'));
  await w.daemon.stop();
});

test('a removed link is detached: rules, files and record go, keyed by MAC', async () => {
  const w = await world();
  assert.ok(existsSync(`${w.root}/etc/sysconfig/network-scripts/ifcfg-eth1`));
  w.kernel.links_ = w.kernel.links_.filter((l) => l.name !== 'eth1');
  w.kernel.addresses_ = w.kernel.addresses_.filter((a) => a.dev !== 'eth1');
  w.kernel.routes_ = w.kernel.routes_.filter((r) => r.dev !== 'eth1');
  w.emit({ kind: 'link', op: 'del', index: 3, name: 'eth1', mac: ETH1.mac });
  await w.until();
  assert.deepEqual(ours(w.kernel, 10001), []);
  assert.equal(existsSync(`${w.root}/etc/sysconfig/network-scripts/ifcfg-eth1`), false);
  assert.equal(existsSync(`${w.root}/run/ec2net/state/020000000002.json`), false);
  assert.deepEqual(w.daemon.status().map((s) => s.ifname), ['eth0']);
  await w.daemon.stop();
});

test('a device that is not an ENI is watched, never configured or refreshed', async () => {
  const w = await world();
  w.kernel.links_.push({ index: 9, name: 'docker0', mac: '02:42:ac:11:00:01', up: true, altnames: [] });
  const calls = w.kernel.calls.length;
  w.emit({ kind: 'link', op: 'new', index: 9, name: 'docker0', mac: '02:42:ac:11:00:01' });
  await w.until();
  assert.equal(w.kernel.calls.length, calls);
  assert.ok(!w.daemon.status().some((s) => s.ifname === 'docker0'));
  const imdsBefore = w.imds.requests.length;
  w.emit({ kind: 'link', op: 'new', index: 9, name: 'docker0', mac: '02:42:ac:11:00:01' });
  await w.until();
  assert.equal(w.imds.requests.length, imdsBefore, 'link flag changes on a foreign device do not re-ask IMDS');
  await w.daemon.stop();
});

test('refresh picks up a new secondary IP; an IMDS outage during refresh removes nothing', async () => {
  const w = await world();
  w.imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.11\n10.0.2.12');
  await w.scheduler.advance(75_000);
  await w.until();
  assert.equal(ours(w.kernel, 10001).length, 3);
  w.imds.fail(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, { status: 503 });
  w.imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10');
  await w.scheduler.advance(75_000);
  const eth1 = () => w.daemon.status().find((x) => x.ifname === 'eth1');
  // The round's IMDS retries take real turns of the loop: drive time until it has given up.
  for (let i = 0; i < 200 && !eth1()?.lastError; i++) await w.scheduler.advance(50);
  await w.until();
  assert.equal(ours(w.kernel, 10001).length, 3, 'nothing removed while IMDS fails');
  assert.equal(eth1()?.lastError?.kind, 'Transient');
  await w.daemon.stop();
});

test('a round reads the kernel only after a notification since its ENIs were verified; IMDS is read every round', async () => {
  const w = await world();
  let snapshots = 0;
  const snapshot = w.kernel.snapshot.bind(w.kernel);
  w.kernel.snapshot = () => {
    snapshots++;
    return snapshot();
  };
  const round = async () => {
    // Each round leaves a new figures object (the fake clock gives every round the same time).
    const before = w.daemon.lastRound();
    for (let i = 0; i < 400 && w.daemon.lastRound() === before; i++) await w.scheduler.advance(1_000);
    assert.notEqual(w.daemon.lastRound(), before, 'a round ran');
    await w.until();
    return w.daemon.lastRound();
  };
  assert.equal((await round())?.snapshot, true, 'the first round verifies against a snapshot');
  const taken = snapshots;
  const quiet = await round();
  assert.equal(quiet?.snapshot, false);
  assert.equal(quiet?.queued, 0);
  assert.equal(snapshots, taken, 'a quiet round takes no snapshot');

  // A rule gone without a notification is not seen by a quiet round (the kernel notifies every change)...
  const gone = ours(w.kernel, 10001)[0];
  assert.ok(gone);
  w.kernel.rules_.splice(w.kernel.rules_.indexOf(gone), 1);
  assert.equal((await round())?.snapshot, false);
  // ...and any notification, one about something else entirely, makes the next round dump and diff again.
  w.emit({ kind: 'address', op: 'new', index: 1, address: '127.0.0.2/8' });
  const full = await round();
  assert.equal(full?.snapshot, true);
  assert.equal(full?.queued, 1, 'the missing rule is found and the ENI configured again');
  assert.equal(ours(w.kernel, 10001).length, 2);

  // An IMDS change is found by a quiet round.
  await round();
  assert.equal((await round())?.snapshot, false);
  w.imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.11\n10.0.2.12');
  const changed = await round();
  assert.equal(changed?.snapshot, false);
  assert.equal(changed?.queued, 1);
  assert.equal(ours(w.kernel, 10001).length, 3);
  await w.daemon.stop();
});
