/**
 * R4 load, against one running ec2netd: eight ENIs attached at once (two subnets, device numbers 1–8, three
 * addresses each, two with a delegated prefix); then twenty rapid attach/detach cycles of one ENI at seeded random
 * intervals; then an ENI detached while the daemon configures it (right after its DHCP started). Afterwards nothing
 * of an absent ENI may remain (rules, routes, files, records, dhclient), no work may be stuck (`ec2net status`
 * reports no pending ENI), no process of ours may be left but the daemon and one dhclient per present ENI, every
 * address of every present ENI answers, and the daemon's RSS stays flat across the cycles (printed before and
 * after; growth bound generous). The daemon's timers cannot be seen from outside: see the report.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Vpc } from '../vpc/vpc.js';
import { ENI0, SUBNETS, eventually, newRoot, reach, startDaemon, type RunningDaemon } from '../support/agent.js';
import { report } from '../support/figures.js';
import { alive, dhclientsUnder, modelOf, processesUnder, prng, runAgent, seedFromEnv, sleep, specOf, stateProblems, type ModelEni, Outcome } from './support.js';

const SEED = seedFromEnv(0x5eed0004);
const REFRESH_SECONDS = 5;
const CYCLES = 20;
/** Each half-cycle (attached, detached) lasts a seeded random time in this range: some end before DHCP, some after. */
const HALF_CYCLE_MS: [number, number] = [50, 900];
const ALL_CONVERGE_BOUND_MS = 90_000;
const SETTLE_BOUND_MS = 30_000;
const RSS_GROWTH_BOUND_BYTES = 30 * 1024 * 1024;

interface Status {
  daemonRunning: boolean;
  daemon?: { pid: number; pending: string[]; childProcesses: number; rssBytes: number; timers?: unknown; activeResources?: Record<string, number> };
  interfaces: { ifname: string; mac: string; present: boolean }[];
}

function eni(n: number, tag: string, prefix?: string): ModelEni {
  const subnet = n % 2 === 1 ? SUBNETS[1] : SUBNETS[0];
  const net = (subnet?.cidr as string).split('.').slice(0, 3).join('.');
  return {
    id: `eni-${`4${tag.charCodeAt(0).toString(16)}${n.toString(16).padStart(2, '0')}`.padStart(17, '0')}`,
    mac: `02:e4:00:${tag.charCodeAt(0).toString(16)}:00:${n.toString(16).padStart(2, '0')}`,
    ifname: `r4${tag}${n}`,
    subnet: subnet?.cidr as string,
    deviceNumber: n,
    ipv4s: [`${net}.${100 + n}`, `${net}.${120 + n}`, `${net}.${140 + n}`],
    prefixes: prefix ? [prefix] : [],
  };
}
const subnetName = (e: ModelEni) => SUBNETS.find((s) => s.cidr === e.subnet)?.name as string;

describe('R4 load: eight ENIs at once, twenty attach/detach cycles, a detach mid-configuration', () => {
  let vpc: Vpc;
  let root: string;
  let daemon: RunningDaemon;
  let daemonPid = -1;
  const present: ModelEni[] = [modelOf(ENI0, SUBNETS)];
  const gone: ModelEni[] = [];
  const figures: Record<string, string | number> = { seed: SEED };
  const outcome = new Outcome();
  const guard = outcome.guard;
  const t0 = Date.now();

  const status = async (): Promise<Status> => {
    const r = await runAgent(vpc, root, 'ec2net', ['status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  };
  /** What an earlier test left behind and already failed on: each test judges only what it adds. */
  const excused = new Set<string>();
  let leaks = 0;
  const problems = async () => (await stateProblems(vpc, { root, present, gone, daemonPid, primaryRecord: true })).filter((p) => !excused.has(p));
  const allAddresses = () => present.flatMap((e) => e.ipv4s);
  /** Converged exactly, nothing pending in the daemon, every present address reachable. */
  const settled = async () => {
    assert.deepEqual(await problems(), []);
    const s = await status();
    assert.equal(s.daemonRunning, true);
    assert.deepEqual(s.daemon?.pending, [], 'work still pending in the daemon');
    assert.deepEqual((await reach(vpc, allAddresses())).failed, []);
  };
  const settle = async (what: string, bound = SETTLE_BOUND_MS) => {
    const ms = await eventually(settled, bound, 300).catch(async (e: Error) => {
      outcome.failed = true;
      const st = await status().catch(() => undefined);
      const left = await problems();
      leaks += left.length;
      for (const p of left) excused.add(p);
      process.stdout.write(`# R4 ${what}: not settled within ${bound} ms: ${left.join(' | ')}; pending=${JSON.stringify(st?.daemon?.pending)}\n`);
      if (process.env.EC2NET_R4_DEBUG === '1') {
        for (const r of daemon.records.filter((x) => typeof x.iface === 'string' && /^r4[fg]/.test(x.iface as string) && (x.level as number) >= 30)) {
          process.stdout.write(`#   ${JSON.stringify(r).slice(0, 300)}\n`);
        }
      }
      throw e;
    });
    process.stdout.write(`# R4 ${what}: settled in ${ms} ms\n`);
    return ms;
  };

  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    await vpc.attach(ENI0);
    root = newRoot();
    daemon = startDaemon(vpc, root, { EC2NET_REFRESH_SECONDS: String(REFRESH_SECONDS) });
    await daemon.waitFor((r) => r.msg === 'ready', 60_000);
    daemonPid = daemon.pid;
    process.stdout.write(`# R4 seed=${SEED} (EC2NET_SEED=${SEED} replays the cycle timings)\n`);
  });

  after(async () => {
    figures['leaked rules/routes/files/records/processes'] = leaks;
    figures['daemon restarts'] = daemon.records.filter((r) => r.msg === 'ready').length - 1;
    figures['duration s'] = Math.round((Date.now() - t0) / 1000);
    report({ id: 'R4', title: 'load: 8 ENIs at once, 20 attach/detach cycles, detach mid-configuration', outcome: outcome.value, figures });
    if (alive(daemon.pid)) await daemon.kill('SIGKILL');
    await vpc?.destroy();
  });

  test('eight ENIs attached at once converge exactly; every address reachable', guard(async () => {
    const eight = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => eni(n, 'e', n === 3 ? '10.0.2.208/28' : n === 6 ? '10.0.1.208/28' : undefined));
    const started = Date.now();
    await Promise.all(eight.map((e) => vpc.attach(specOf(e, subnetName(e)))));
    present.push(...eight);
    await settle('eight ENIs at once', ALL_CONVERGE_BOUND_MS);
    figures['ENIs attached at once'] = eight.length;
    figures['addresses reachable after the burst'] = allAddresses().length;
    figures['burst converged ms'] = Date.now() - started;
  }));

  test(`${CYCLES} rapid attach/detach cycles of one ENI: nothing leaks, memory stays flat`, guard(async () => {
    const rand = prng(SEED);
    const flapper = eni(9, 'f');
    const spec = specOf(flapper, subnetName(flapper));
    const rssBefore = (await status()).daemon?.rssBytes ?? 0;
    // Timers the daemon holds (status reports the event loop's active resources by kind): the fewest of a few
    // samples, so that a refresh round in flight does not count.
    const timeouts = async () => (await status()).daemon?.activeResources?.Timeout;
    const samples: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      samples.push(await timeouts());
      await sleep(300);
    }
    const timersBefore = samples.every((x) => x === undefined) ? undefined : Math.min(...samples.map((x) => x ?? Infinity));
    const halves: number[] = [];
    const span = () => {
      const ms = HALF_CYCLE_MS[0] + Math.floor(rand() * (HALF_CYCLE_MS[1] - HALF_CYCLE_MS[0]));
      halves.push(ms);
      return ms;
    };
    const started = Date.now();
    for (let i = 0; i < CYCLES; i++) {
      await vpc.attach(spec);
      await sleep(span());
      await vpc.detach(flapper.id);
      await sleep(span());
    }
    const cyclesMs = Date.now() - started;
    gone.push(flapper);
    const leakMs = await settle(`after ${CYCLES} cycles (flapper detached)`).catch((e: Error) => e);
    const st = await status();
    const rssAfter = st.daemon?.rssBytes ?? 0;
    process.stdout.write(
      `# R4 cycles: ${CYCLES} in ${cyclesMs} ms (half-cycles ${Math.min(...halves)}–${Math.max(...halves)} ms); daemon RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB before, ${(rssAfter / 2 ** 20).toFixed(1)} MiB after\n`,
    );
    figures.cycles = CYCLES;
    figures['half-cycle ms'] = `${Math.min(...halves)}-${Math.max(...halves)}`;
    figures['settled after cycles ms'] = leakMs instanceof Error ? 'never' : leakMs;
    figures['RSS before MiB'] = Number((rssBefore / 2 ** 20).toFixed(1));
    figures['RSS after MiB'] = Number((rssAfter / 2 ** 20).toFixed(1));
    figures['RSS growth MiB'] = Number(((rssAfter - rssBefore) / 2 ** 20).toFixed(1));
    assert.ok(rssAfter - rssBefore < RSS_GROWTH_BOUND_BYTES, `RSS grew by ${rssAfter - rssBefore} bytes`);
    if (leakMs instanceof Error) throw leakMs;
    if (timersBefore === undefined) {
      figures['timers before/after cycles'] = 'not observable';
    } else {
      // The same ENIs are present as before the cycles: no timer may be left for the one that came and went.
      let timersAfter: number | undefined;
      await eventually(async () => {
        timersAfter = await timeouts();
        assert.ok(timersAfter !== undefined && timersAfter <= timersBefore, `timers: ${timersBefore} before the cycles, ${timersAfter} after`);
      }, 15_000, 500).catch((e: Error) => {
        figures['timers before/after cycles'] = `${timersBefore}/${timersAfter}`;
        throw e;
      });
      figures['timers before/after cycles'] = `${timersBefore}/${timersAfter}`;
      process.stdout.write(`# R4 timers (Timeout handles): ${timersBefore} before the cycles, ${timersAfter} after\n`);
    }
    assert.ok(!st.interfaces.some((i) => i.mac === flapper.mac), 'no status entry for the detached ENI');

    // It comes back once more, is configured as before, and goes again without a trace.
    gone.splice(gone.indexOf(flapper), 1);
    await vpc.attach(spec);
    present.push(flapper);
    await settle('flapper attached again');
    await vpc.detach(flapper.id);
    present.splice(present.indexOf(flapper), 1);
    gone.push(flapper);
    await settle('flapper detached again');
  }));

  test('an ENI detached while it is being configured leaves nothing behind, and no work is stuck', guard(async () => {
    const victim = eni(10, 'g');
    await vpc.attach(specOf(victim, subnetName(victim)));
    const rec = await daemon.waitFor((r) => r.iface === victim.ifname && r.msg === 'starting DHCP', 30_000);
    const detachedAt = Date.now();
    await vpc.detach(victim.id);
    gone.push(victim);
    process.stdout.write(`# R4 detached ${victim.ifname} at '${String(rec.msg)}'\n`);
    figures['detached at'] = String(rec.msg);
    const ms = await settle(`${victim.ifname} detached mid-configuration`);
    figures['detach mid-configuration settled ms'] = Date.now() - detachedAt;
    void ms;
  }));

  test('afterwards: no leak, no stuck work, no stray process or dhclient; the daemon never restarted', guard(async () => {
    await settle('final');
    const st = await status();
    assert.equal(st.daemon?.pid !== undefined, true);
    assert.deepEqual(st.daemon?.pending, []);
    assert.deepEqual(st.interfaces.map((i) => i.mac).sort(), present.map((e) => e.mac).sort(), 'status lists exactly the present ENIs');
    const dhclients = dhclientsUnder(root).map((p) => p.args.at(-1) ?? '').sort();
    assert.deepEqual(dhclients, present.filter((e) => !e.primary).map((e) => e.ifname).sort());
    const stray = processesUnder(root).filter((p) => p.pid !== daemon.pid && !dhclients.includes(p.args.at(-1) ?? ''));
    assert.deepEqual(stray.map((p) => p.args.join(' ')), []);
    assert.ok(alive(daemon.pid), 'the daemon is alive');
    assert.equal(daemon.records.filter((r) => r.level === 60).length, 0, 'no fatal log record');
    figures['absent ENIs checked'] = gone.length;
    figures['leaked rules/routes/files/records/processes'] = leaks;
    figures['dhclients left for absent ENIs'] = 0;
    figures['stray processes'] = stray.length;
    figures['pending after'] = (st.daemon?.pending ?? []).length;
    figures['child processes started'] = st.daemon?.childProcesses ?? -1;
    // The daemon's timers are invisible from outside unless status lists them; when it does, none may be for a gone ENI.
    const timers = st.daemon?.timers;
    if (timers !== undefined) for (const g of gone) assert.ok(!JSON.stringify(timers).includes(g.mac), `a timer is left for ${g.ifname}: ${JSON.stringify(timers)}`);
    figures['timers per ENI observable'] = timers === undefined ? 'no (status lists timers by kind only)' : 'yes, none for absent ENIs';
  }));

  test('SIGTERM while repairs are backed off: the daemon exits at once (no timer left behind)', guard(async () => {
    // Something keeps deleting one of r4e1's rules: after five repairs in a minute the daemon backs off and
    // schedules a retry for the end of the window. That timer must not outlive the daemon.
    const e = present.find((x) => x.ifname === 'r4e1') as ModelEni;
    const t = 10000 + e.deviceNumber;
    const rule = ['from', e.ipv4s[1] as string, 'lookup', String(t), 'priority', String(t)];
    const backoff = daemon.waitFor((r) => r.msg === 'state keeps being deleted: backing off repairs' && r.iface === e.ifname, 30_000);
    let deletions = 0;
    for (let i = 0; i < 8 && !daemon.records.some((r) => r.msg === 'state keeps being deleted: backing off repairs'); i++) {
      await eventually(async () => assert.equal((await vpc.exec('instance', ['ip', 'rule', 'del', ...rule])).code, 0), 5_000, 50);
      deletions++;
      await sleep(600);
    }
    await backoff;
    // Put the rule back by hand (as the daemon would have), so the state stays what the other checks expect.
    await vpc.exec('instance', ['ip', 'rule', 'add', ...rule, 'proto', '236']);
    figures['repair backoff after deletions'] = deletions;
    const t0 = Date.now();
    daemon.kill('SIGTERM').catch(() => undefined);
    const code = await Promise.race([daemon.exited, sleep(15_000).then(() => 'still running' as const)]);
    const ms = Date.now() - t0;
    figures['exit after SIGTERM ms'] = code === 'still running' ? '>15000' : ms;
    process.stdout.write(`# R4 SIGTERM with a repair backoff pending: ${code === 'still running' ? 'still running after 15 s' : `exit ${code} after ${ms} ms`}\n`);
    if (code === 'still running') await daemon.kill('SIGKILL');
    assert.equal(code, 0, 'the daemon exits promptly and cleanly on SIGTERM');
    assert.ok(ms < 5_000, `exit took ${ms} ms`);
  }));
});
