/**
 * The agent as the .deb installs it, in the simulated VPC: ec2ifscan from an unpacked package root configures
 * every ENI with the packaged addon and the packaged dhclient script, and every address answers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { DHCLIENT_SCRIPT, type Arch } from '../../scripts/package/layout.js';
import { ENI0, ENI1, ENI2, SUBNETS, addressesOf, newRoot, reach, ruleLines } from '../support/agent.js';
import { Vpc } from '../vpc/vpc.js';
import { BUILD_TIMEOUT_MS, HOST_ARCH, isRoot, ok, packageFile, packages, scratch } from './support.js';

/** Command lines of the processes running dhclient. */
function dhclients(): string[] {
  return readdirSync('/proc')
    .filter((p) => /^[0-9]+$/.test(p))
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      } catch {
        return '';
      }
    })
    .filter((c) => c.startsWith('dhclient '));
}

describe('the packaged agent in the simulated VPC', { skip: isRoot && HOST_ARCH ? false : 'needs root and a package for this architecture' }, () => {
  let vpc: Vpc;
  let pkgRoot: string;
  let etcRoot: string;

  before(async () => {
    const built = await packages();
    pkgRoot = scratch('installed');
    ok('dpkg-deb', ['-x', packageFile(built, 'deb', HOST_ARCH as Arch), pkgRoot]);
    vpc = await Vpc.create({ subnets: SUBNETS });
    for (const eni of [ENI0, ENI1, ENI2]) await vpc.attach(eni);
    etcRoot = newRoot();
  }, { timeout: BUILD_TIMEOUT_MS });

  after(async () => vpc?.destroy());

  test('ec2ifscan configures every ENI and every address is reachable', async () => {
    const r = await vpc.exec('instance', [`${pkgRoot}/usr/sbin/ec2ifscan`], {
      env: { EC2NET_ROOT: etcRoot, EC2NET_IMDS_URL: vpc.imdsUrl, NODE_PATH: `${etcRoot}/node_modules` },
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await reach(vpc, [...addressesOf(ENI0), ...addressesOf(ENI1), ...addressesOf(ENI2)])).failed, []);
    assert.ok((await ruleLines(vpc)).some((l) => l.endsWith(' lookup 10001 proto 236')));
    // No initscripts here: ec2net ran dhclient itself, with the script from the package, found beside the bundle.
    const mine = dhclients().filter((c) => c.includes(`${etcRoot}/run/ec2net/`));
    assert.ok(mine.length > 0, 'no dhclient started by ec2net');
    for (const c of mine) assert.ok(c.includes(` -sf ${pkgRoot}${DHCLIENT_SCRIPT} `), c);
  });
});
