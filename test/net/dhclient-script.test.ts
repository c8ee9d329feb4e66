/**
 * ec2net's dhclient script, run as dhclient runs it (dhclient-script(8): the reason and the lease's options in the
 * environment, new_* and old_*), on a veth link in the instance namespace of a simulated VPC. It checks every
 * value with the shell's own tests; here each kind of value dhclient can hand over is tried, well-formed and
 * hostile, and the link's addresses, subnet route and MTU are read back.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Vpc } from '../vpc/vpc.js';
import { ENI0, SUBNETS } from '../support/agent.js';

const SCRIPT = fileURLToPath(new URL('../../../libexec/ec2net-dhclient-script', import.meta.url));
const DEV = 'dh0';

describe('ec2net-dhclient-script', () => {
  let vpc: Vpc;
  before(async () => {
    vpc = await Vpc.create({ subnets: SUBNETS });
    await vpc.attach(ENI0);
  });
  after(() => vpc?.destroy());
  beforeEach(async () => {
    await vpc.exec('instance', ['ip', 'link', 'del', DEV]);
    // A veth pair, up (a subnet route needs its link up): this kernel may have no dummy driver.
    const r = await vpc.exec('instance', ['ip', '-batch', '-'], { input: `link add ${DEV} mtu 1500 type veth peer name ${DEV}p mtu 9216\nlink set ${DEV}p up\nlink set ${DEV} up\n` });
    assert.equal(r.code, 0, r.stderr);
  });

  /** Runs the script with dhclient's variables; `env` replaces the defaults of a BOUND on DEV. */
  async function run(env: Record<string, string>) {
    const vars = { reason: 'BOUND', interface: DEV, ...env };
    return vpc.exec('instance', ['env', '-i', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), '/bin/sh', SCRIPT]);
  }

  async function state() {
    const addrs = JSON.parse((await vpc.exec('instance', ['ip', '-j', '-4', 'addr', 'show', 'dev', DEV])).stdout) as { mtu: number; addr_info: { local: string; prefixlen: number }[] }[];
    const routes = JSON.parse((await vpc.exec('instance', ['ip', '-j', '-4', 'route', 'show', 'dev', DEV])).stdout) as { dst: string; metric?: number }[];
    return {
      mtu: addrs[0]?.mtu,
      addresses: (addrs[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
      routes: routes.map((r) => `${r.dst} metric ${r.metric ?? 0}`),
    };
  }

  test('BOUND puts the lease on the link with its prefix length, the MTU and the subnet route at the metric given', async () => {
    const r = await run({ new_ip_address: '10.0.1.77', new_subnet_mask: '255.255.255.0', new_interface_mtu: '9001', EC2NET_ROUTE_METRIC: '10101' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await state(), { mtu: 9001, addresses: ['10.0.1.77/24'], routes: ['10.0.1.0/24 metric 10101'] });
  });

  test('PREINIT brings a link that is down up, and succeeds on one that is up', async () => {
    await vpc.exec('instance', ['ip', 'link', 'set', DEV, 'down']);
    const up = () => vpc.exec('instance', ['cat', `/sys/class/net/${DEV}/flags`]).then((r) => (Number(r.stdout.trim()) & 1) === 1);
    assert.equal(await up(), false);
    assert.equal((await run({ reason: 'PREINIT' })).code, 0);
    assert.equal(await up(), true);
    assert.equal((await run({ reason: 'PREINIT' })).code, 0);
    assert.equal(await up(), true);
  });

  test('masks of every length from /16 to /28 become their prefix length', async () => {
    for (const [mask, len] of [['255.255.0.0', 16], ['255.255.240.0', 20], ['255.255.255.128', 25], ['255.255.255.240', 28]] as const) {
      await vpc.exec('instance', ['ip', 'addr', 'flush', 'dev', DEV]);
      const r = await run({ new_ip_address: '10.0.1.77', new_subnet_mask: mask });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await state()).addresses, [`10.0.1.77/${len}`], mask);
    }
  });

  test('RENEW with another address replaces the old one; EXPIRE removes it', async () => {
    assert.equal((await run({ new_ip_address: '10.0.1.77', new_subnet_mask: '255.255.255.0' })).code, 0);
    const renew = await run({ reason: 'RENEW', old_ip_address: '10.0.1.77', old_subnet_mask: '255.255.255.0', new_ip_address: '10.0.1.78', new_subnet_mask: '255.255.255.0' });
    assert.equal(renew.code, 0, renew.stderr);
    assert.deepEqual((await state()).addresses, ['10.0.1.78/24']);
    const expire = await run({ reason: 'EXPIRE', old_ip_address: '10.0.1.78', old_subnet_mask: '255.255.255.0' });
    assert.equal(expire.code, 0, expire.stderr);
    assert.deepEqual((await state()).addresses, []);
  });

  test('a hostile or malformed address, netmask or interface name is refused and nothing changes', async () => {
    const refused: Record<string, string>[] = [
      { new_ip_address: '10.0.1.256', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '10.0.1.07', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '10.0.1.7.', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '10.0.1', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '10.0..1.7', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '10.0.1.7.8', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '10.0.1.7$(reboot)', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '10.0.1.7 dev lo', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '', new_subnet_mask: '255.255.255.0' },
      { new_ip_address: '10.0.1.77', new_subnet_mask: '255.0.255.0' },
      { new_ip_address: '10.0.1.77', new_subnet_mask: '255.255.255.1' },
      { new_ip_address: '10.0.1.77', new_subnet_mask: '' },
      { new_ip_address: '10.0.1.77', new_subnet_mask: '255.255.255.0', interface: '-dh0' },
      { new_ip_address: '10.0.1.77', new_subnet_mask: '255.255.255.0', interface: 'dh0;reboot' },
      { new_ip_address: '10.0.1.77', new_subnet_mask: '255.255.255.0', interface: 'a234567890123456' },
    ];
    for (const env of refused) {
      const r = await run(env);
      assert.equal(r.code, 1, `${JSON.stringify(env)}: ${r.stderr}`);
      assert.match(r.stderr, /^ec2net-dhclient-script: refusing (address|netmask|interface name)\n$/, JSON.stringify(env));
      assert.deepEqual((await state()).addresses, [], JSON.stringify(env));
    }
  });

  test('an MTU out of range or malformed, or a metric that is not a number, is ignored; the address still goes on', async () => {
    for (const mtu of ['99999', '575', '9217', '01500', '1500;reboot', '']) {
      const r = await run({ new_ip_address: '10.0.1.77', new_subnet_mask: '255.255.255.0', new_interface_mtu: mtu, EC2NET_ROUTE_METRIC: 'x1' });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await state(), { mtu: 1500, addresses: ['10.0.1.77/24'], routes: ['10.0.1.0/24 metric 0'] }, mtu);
    }
  });
});
