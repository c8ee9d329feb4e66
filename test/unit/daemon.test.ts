/**
 * The daemon's decisions over fakes: a stateful kernel, IMDS, DHCP, a manual scheduler, and injected kernel events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Ec2netDaemon, MAX_REPAIRS_PER_WINDOW } from '../../src/daemon/daemon.js';
import { ifdown } from '../../src/agent/ifdown.js';
import { ifup } from '../../src/agent/ifup.js';
import { EC2NET_PROTOCOL, parseConfig } from '../../src/config.js';
import { MAX_ATTEMPTS } from '../../src/imds/client.js';
import type { KernelEvent } from '../../src/ports/netlink-events.js';
import { FakeKernel } from '../fakes/kernel.js';
import { FakeImds, type FakeEni } from '../fakes/imds.js';
import { fakeContext } from '../fakes/context.js';
import { ManualScheduler } from '../fakes/scheduler.js';

const ETH0: FakeEni = { mac: '02:00:00:00:00:01', id: 'eni-00000000000000001', deviceNumber: 0, subnet: '10.0.1.0/24', ipv4s: ['10.0.1.10'] };
const ETH1: FakeEni = { mac: '02:00:00:00:00:02', id: 'eni-00000000000000002', deviceNumber: 1, subnet: '10.0.2.0/24', ipv4s: ['10.0.2.10', '10.0.2.11'] };

async function world(opts: { conf?: string; debounceMs?: number; deviceSettled?: (kernel: FakeKernel, index: number, name: string) => Promise<boolean> } = {}) {
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
  const config = opts.conf === undefined ? f.ctx.config : { ...f.ctx.config, unmanaged: parseConfig(opts.conf, '/x').unmanaged };
  const ctx = { ...f.ctx, config, log: pino({ level: 'debug' }, sink) };
  const scheduler = new ManualScheduler();
  let emit: (e: KernelEvent) => void = () => undefined;
  const daemon = new Ec2netDaemon(ctx, {
    refreshMs: 60_000,
    concurrency: 2,
    debounceMs: opts.debounceMs ?? 10,
    scheduler,
    ...(opts.deviceSettled ? { deviceSettled: (index: number, name: string) => (opts.deviceSettled as NonNullable<typeof opts.deviceSettled>)(kernel, index, name) } : {}),
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
  return { kernel, imds, ctx, root: f.root, dhcp: f.dhcp, daemon, scheduler, logs, emit: (e: KernelEvent) => emit(e), until };
}

const ours = (k: FakeKernel, table: number) => k.rules_.filter((r) => r.protocol === EC2NET_PROTOCOL && r.table === table);

test('startup configures every ENI it finds', async () => {
  const w = await world();
  assert.equal(ours(w.kernel, 10001).length, 2);
  assert.deepEqual(w.daemon.status().map((s) => s.ifname).sort(), ['eth0', 'eth1']);
  await w.daemon.stop();
});

test('a link that appears is configured at once; events on a link the daemon knows wait out the debounce', async () => {
  const w = await world({ debounceMs: 5_000 });
  const ETH2: FakeEni = { mac: '02:00:00:00:00:03', id: 'eni-00000000000000003', deviceNumber: 2, subnet: '10.0.3.0/24', ipv4s: ['10.0.3.10'] };
  w.imds.attach(ETH2);
  w.dhcp.leases.set('eth2', '10.0.3.10/24');
  w.kernel.links_.push({ index: 4, name: 'eth2', mac: ETH2.mac, up: false, altnames: [] });
  w.emit({ kind: 'link', op: 'new', index: 4, name: 'eth2', mac: ETH2.mac });
  // No virtual time passes: the job starts from a zero-delay timer; its file and lock I/O takes real time.
  const t0 = w.scheduler.now;
  for (let i = 0; i < 400 && ours(w.kernel, 10002).length === 0; i++) {
    await w.scheduler.advance(0);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(ours(w.kernel, 10002).length, 1);
  assert.equal(w.scheduler.now, t0);
  // The same link renamed: a burst of events on a known link is debounced.
  const requests = w.imds.requests.length;
  w.kernel.links_ = w.kernel.links_.map((l) => (l.index === 4 ? { ...l, name: 'ens7' } : l));
  w.emit({ kind: 'link', op: 'new', index: 4, name: 'ens7', mac: ETH2.mac });
  await w.scheduler.advance(4_000);
  assert.equal(w.imds.requests.length, requests, 'nothing asked before the debounce ends');
  await w.scheduler.advance(1_000);
  await w.until();
  assert.ok(w.imds.requests.length > requests);
  assert.equal(w.daemon.status().find((s) => s.mac === ETH2.mac)?.ifname, 'ens7');
  await w.daemon.stop();
});

test("a link's first configure waits until udev is done with it, and uses the name udev gave it", async () => {
  const settled: string[] = [];
  const w = await world({
    // udev renames the kernel's eth2 to ens7 before it is done with the device.
    // It waited only for that one; the others were recorded before the daemon looked.
    deviceSettled: async (k, index, name) => {
      settled.push(name);
      k.links_ = k.links_.map((l) => (l.index === index && l.name === 'eth2' ? { ...l, name: 'ens7' } : l));
      return name === 'eth2';
    },
  });
  const ETH2: FakeEni = { mac: '02:00:00:00:00:03', id: 'eni-00000000000000003', deviceNumber: 2, subnet: '10.0.3.0/24', ipv4s: ['10.0.3.10'] };
  w.imds.attach(ETH2);
  w.dhcp.leases.set('ens7', '10.0.3.10/24');
  settled.length = 0;
  w.kernel.links_.push({ index: 4, name: 'eth2', mac: ETH2.mac, up: false, altnames: [] });
  w.emit({ kind: 'link', op: 'new', index: 4, name: 'eth2', mac: ETH2.mac });
  await w.until();
  assert.deepEqual(settled, ['eth2']);
  assert.equal(ours(w.kernel, 10002).length, 1);
  assert.equal(w.daemon.status().find((s) => s.mac === ETH2.mac)?.ifname, 'ens7');
  assert.ok(existsSync(`${w.root}/etc/sysconfig/network-scripts/ifcfg-ens7`));
  assert.equal(existsSync(`${w.root}/etc/sysconfig/network-scripts/ifcfg-eth2`), false);
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
  // A quiet round parses and plans nothing: the ENI's metadata and plan are the objects the round before kept.
  const kept = w.daemon.status().find((x) => x.ifname === 'eth1');
  await round();
  const again = w.daemon.status().find((x) => x.ifname === 'eth1');
  assert.ok(kept?.plan && kept.meta);
  assert.equal(again?.plan, kept.plan);
  assert.equal(again?.meta, kept.meta);

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

test('ec2ifdown while the daemon runs stays down: no repair of what it deleted, no refresh, until ec2ifup', async () => {
  const w = await world();
  const eth1 = () => w.daemon.status().find((x) => x.ifname === 'eth1');
  await ifdown(w.ctx, 'eth1');
  assert.equal(ours(w.kernel, 10001).length, 0);
  assert.equal(w.kernel.links_.find((l) => l.name === 'eth1')?.up, false);
  // The kernel announces what ec2ifdown deleted; the daemon would have put it back from its last plan.
  for (const src of ['10.0.2.10/32', '10.0.2.11/32']) w.emit({ kind: 'rule', op: 'del', table: 10001, protocol: EC2NET_PROTOCOL, src });
  w.emit({ kind: 'address', op: 'del', index: 3, address: '10.0.2.11/32' });
  await w.until();
  assert.equal(ours(w.kernel, 10001).length, 0, 'repair undid ec2ifdown');
  assert.equal(eth1()?.adminDown, true);
  // A new secondary IP in IMDS and two refresh periods: still down.
  w.imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.11\n10.0.2.12');
  await w.scheduler.advance(75_000);
  await w.until();
  await w.scheduler.advance(75_000);
  await w.until();
  assert.equal(ours(w.kernel, 10001).length, 0, 'a refresh undid ec2ifdown');
  assert.equal(w.kernel.links_.find((l) => l.name === 'eth1')?.up, false);
  // ec2ifup brings it back, and the daemon follows it again from the next round.
  await ifup(w.ctx, 'eth1');
  assert.equal(ours(w.kernel, 10001).length, 3);
  w.imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.11');
  await w.scheduler.advance(75_000);
  await w.until();
  assert.equal(eth1()?.adminDown, false);
  assert.equal(ours(w.kernel, 10001).length, 2, 'the round after ec2ifup did not apply IMDS');
  await w.daemon.stop();
});

const ETH2: FakeEni = { mac: '02:00:00:00:00:03', id: 'eni-00000000000000003', deviceNumber: 2, subnet: '10.0.1.0/24', ipv4s: ['10.0.1.20', '10.0.1.21'] };

test('an ENI that IMDS lists only seconds after its device appears is configured on the short re-check, with no further event', async () => {
  const w = await world();
  w.kernel.links_.push({ index: 4, name: 'eth2', mac: ETH2.mac, up: false, altnames: [] });
  w.dhcp.leases.set('eth2', '10.0.1.20/24');
  const appeared = w.scheduler.now;
  w.emit({ kind: 'link', op: 'new', index: 4, name: 'eth2', mac: ETH2.mac });
  await w.until();
  assert.equal(ours(w.kernel, 10002).length, 0);
  // Listed 3 s after the device appeared (re-checks at 0.5, 1.5 and 3.5 s).
  await w.scheduler.advance(3_000);
  await w.until();
  w.imds.attach(ETH2);
  const listed = w.scheduler.now;
  for (let i = 0; i < 100 && ours(w.kernel, 10002).length === 0; i++) await w.scheduler.advance(100);
  await w.until();
  assert.equal(ours(w.kernel, 10002).length, 2);
  // On the short re-checks, well before the first refresh round (48-72 s): the jobs' file and lock I/O takes real
  // turns of the loop while this test drives virtual time, so only the bound is asserted here.
  assert.ok(w.scheduler.now - listed < 30_000, `configured ${w.scheduler.now - listed} ms after IMDS listed it (${w.scheduler.now - appeared} ms after the device appeared)`);
  assert.ok(w.daemon.status().some((s) => s.ifname === 'eth2'));
  await w.daemon.stop();
});

test('a device listed only after its short re-checks ran out is configured by the next round', async () => {
  const w = await world();
  w.kernel.links_.push({ index: 4, name: 'eth2', mac: ETH2.mac, up: false, altnames: [] });
  w.dhcp.leases.set('eth2', '10.0.1.20/24');
  w.emit({ kind: 'link', op: 'new', index: 4, name: 'eth2', mac: ETH2.mac });
  await w.until();
  // In steps, so that each re-check's job ends before the next is due: 0.5, 1, 2 ... 32 s apart, then no more.
  const checks = () => w.logs.filter((l) => l.mac === ETH2.mac && l.msg === 'not an ENI of this instance (yet)').length;
  for (let i = 0; i < 400 && checks() < 8; i++) {
    await w.scheduler.advance(500);
    await w.until();
  }
  assert.equal(checks(), 8, 'the short re-checks: 0.5, 1, 2, 4, 8, 16, 32 s, and the last one that schedules none');
  w.imds.attach(ETH2);
  await w.scheduler.advance(20_000);
  await w.until();
  assert.equal(ours(w.kernel, 10002).length, 0, 'configured with no re-check due');
  await w.scheduler.advance(75_000);
  await w.until();
  assert.equal(ours(w.kernel, 10002).length, 2);
  await w.daemon.stop();
});

test('a blip of an empty MAC listing changes nothing and abandons nothing: the next real change is applied', async () => {
  const w = await world();
  const eth1 = () => w.daemon.status().find((x) => x.ifname === 'eth1');
  w.imds.set('network/interfaces/macs/', '');
  await w.scheduler.advance(75_000);
  await w.until();
  assert.equal(ours(w.kernel, 10001).length, 2);
  assert.equal(eth1()?.lastError?.kind, 'Transient');
  w.imds.set('network/interfaces/macs/', undefined);
  w.imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10');
  await w.scheduler.advance(75_000);
  await w.until();
  assert.equal(ours(w.kernel, 10001).length, 1, 'the secondary IP removed from IMDS after the blip stayed');
  assert.equal(eth1()?.lastError, undefined);
  await w.daemon.stop();
});

test('a failure that cannot pass until IMDS changes is tried again a refresh period later; a Transient one on the short backoff', async () => {
  const w = await world();
  const key = `network/interfaces/macs/${ETH2.mac}/local-ipv4s`;
  w.imds.attach(ETH2);
  w.imds.set(key, '10.0.1.20;reboot');
  w.kernel.links_.push({ index: 4, name: 'eth2', mac: ETH2.mac, up: false, altnames: [] });
  w.dhcp.leases.set('eth2', '10.0.1.20/24');
  w.emit({ kind: 'link', op: 'new', index: 4, name: 'eth2', mac: ETH2.mac });
  await w.until();
  const eth2 = () => w.daemon.status().find((x) => x.ifname === 'eth2');
  assert.equal(eth2()?.lastError?.kind, 'InvalidMetadata');
  // Fixed in IMDS 5 s later: the 2 s backoff of a retryable failure would have applied it within seconds.
  await w.scheduler.advance(5_000);
  w.imds.set(key, '10.0.1.20');
  for (let i = 0; i < 25; i++) await w.scheduler.advance(1_000);
  await w.until();
  assert.equal(ours(w.kernel, 10002).length, 0, 'not tried again within 30 s');
  for (let i = 0; i < 40 && ours(w.kernel, 10002).length === 0; i++) await w.scheduler.advance(1_000);
  await w.until();
  assert.equal(ours(w.kernel, 10002).length, 1, 'tried again once the refresh period had passed');

  // A Transient failure (IMDS answers 503) is retried on the short backoff.
  const eth3 = { ...ETH2, mac: '02:00:00:00:00:04', id: 'eni-00000000000000004', deviceNumber: 3, ipv4s: ['10.0.1.30'] };
  const key3 = `network/interfaces/macs/${eth3.mac}/local-ipv4s`;
  w.imds.attach(eth3);
  w.imds.fail(key3, { status: 503 }, MAX_ATTEMPTS);
  w.kernel.links_.push({ index: 5, name: 'eth3', mac: eth3.mac, up: false, altnames: [] });
  w.dhcp.leases.set('eth3', '10.0.1.30/24');
  w.emit({ kind: 'link', op: 'new', index: 5, name: 'eth3', mac: eth3.mac });
  for (let i = 0; i < 100 && !w.daemon.status().find((x) => x.ifname === 'eth3')?.lastError; i++) await w.scheduler.advance(50);
  assert.equal(w.daemon.status().find((x) => x.ifname === 'eth3')?.lastError?.kind, 'Transient');
  for (let i = 0; i < 15 && ours(w.kernel, 10003).length === 0; i++) await w.scheduler.advance(1_000);
  await w.until();
  assert.equal(ours(w.kernel, 10003).length, 1, 'configured on the short backoff');
  await w.daemon.stop();
});

test('an ENI UNMANAGED names is watched and never configured, repaired or refreshed; status says why', async () => {
  const w = await world({ conf: 'UNMANAGED=device-number=1\n' });
  const eth1 = () => w.daemon.status().find((x) => x.ifname === 'eth1');
  assert.equal(eth1()?.unmanaged, 'device-number=1');
  assert.equal(ours(w.kernel, 10001).length, 0);
  assert.equal(w.kernel.links_.find((l) => l.name === 'eth1')?.up, false);
  // A new address in IMDS and a refresh period later: still nothing.
  w.imds.set(`network/interfaces/macs/${ETH1.mac}/local-ipv4s`, '10.0.2.10\n10.0.2.11\n10.0.2.12');
  await w.scheduler.advance(75_000);
  await w.until();
  assert.equal(ours(w.kernel, 10001).length, 0);
  assert.equal(w.dhcp.running.has('eth1'), false);
  await w.daemon.stop();
});
