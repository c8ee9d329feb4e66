/**
 * SET_HOSTNAME: the fake kernel holds the hostname; IMDS answers local-hostname.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { maybeSetHostname } from '../../src/agent/hostname.js';
import { Ec2netError } from '../../src/errors.js';
import { parseHostname } from '../../src/model/validate.js';
import { FakeKernel } from '../fakes/kernel.js';
import { FakeImds } from '../fakes/imds.js';
import { fakeContext } from '../fakes/context.js';

const NAME = 'ip-10-0-1-10.us-west-2.compute.internal';

function world(setHostname: boolean, hostname = 'localhost', body: string | undefined = NAME) {
  const kernel = new FakeKernel();
  kernel.hostname_ = hostname;
  const imds = new FakeImds();
  imds.set('local-hostname', body);
  return { kernel, imds, ...fakeContext(kernel, imds, { setHostname }) };
}

describe('SET_HOSTNAME', () => {
  test('off by default: nothing is asked or changed', async () => {
    const { kernel, imds, ctx } = world(false);
    assert.equal(await maybeSetHostname(ctx), 'disabled');
    assert.equal(kernel.hostname_, 'localhost');
    assert.equal(imds.requests.length, 0);
  });

  for (const placeholder of ['localhost', 'localhost.localdomain', '(none)', '']) {
    test(`on, and the system is unnamed (${JSON.stringify(placeholder)}): set, and persisted to /etc/hostname`, async () => {
      const { kernel, ctx, root } = world(true, placeholder);
      assert.equal(await maybeSetHostname(ctx), 'set');
      assert.equal(kernel.hostname_, NAME);
      assert.equal(readFileSync(`${root}/etc/hostname`, 'utf8'), `${NAME}\n`);
    });
  }

  test('on, but the system has a name: kept, IMDS not asked', async () => {
    const { kernel, imds, ctx, root } = world(true, 'build-7');
    assert.equal(await maybeSetHostname(ctx), 'kept');
    assert.equal(kernel.hostname_, 'build-7');
    assert.equal(imds.requests.length, 0);
    assert.equal(existsSync(`${root}/etc/hostname`), false);
  });

  test('an /etc/hostname the image wrote is not overwritten', async () => {
    const { ctx, root } = world(true);
    mkdirSync(`${root}/etc`, { recursive: true });
    writeFileSync(`${root}/etc/hostname`, 'golden\n');
    await maybeSetHostname(ctx);
    assert.equal(readFileSync(`${root}/etc/hostname`, 'utf8'), 'golden\n');
  });

  for (const hostile of ['a;reboot', '$(id)', 'a b', '-lead', 'trail-', 'x'.repeat(64) + '.a', 'a..b', '']) {
    test(`a hostile local-hostname ${JSON.stringify(hostile.slice(0, 20))} is refused and changes nothing`, async () => {
      const { kernel, ctx, root } = world(true, 'localhost', hostile);
      await assert.rejects(maybeSetHostname(ctx), (e: unknown) => e instanceof Ec2netError && e.kind === 'InvalidMetadata' && e.fields.key === 'local-hostname');
      assert.equal(kernel.hostname_, 'localhost');
      assert.equal(existsSync(`${root}/etc/hostname`), false);
    });
  }

  test('IMDS failing is Transient and changes nothing', async () => {
    const { kernel, imds, ctx } = world(true);
    imds.fail('local-hostname', { status: 503 });
    await assert.rejects(maybeSetHostname(ctx), (e: unknown) => e instanceof Ec2netError && e.kind === 'Transient');
    assert.equal(kernel.hostname_, 'localhost');
  });

  test('a name over the kernel limit of 64 bytes keeps its first label', () => {
    const long = `ip-10-0-1-10.${'a'.repeat(30)}.${'b'.repeat(30)}.internal`;
    assert.equal(parseHostname(long), 'ip-10-0-1-10');
    assert.equal(parseHostname('IP-10-0-1-10.EC2.INTERNAL\n'), 'ip-10-0-1-10.ec2.internal');
  });
});
