/**
 * The one error type: what each kind means for a retry and for the exit status (DESIGN.md, "Exit codes": 0
 * converged, 1 failed, 2 usage error), and the kinds the flows raise for a missing interface and a MAC IMDS does
 * not list.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2netError, EXIT_FAILED, EXIT_USAGE, toEc2netError, type ErrorKind } from '../../src/errors.js';
import { transportError } from '../../src/imds/client.js';
import { ifup } from '../../src/agent/ifup.js';
import { FakeKernel } from '../fakes/kernel.js';
import { FakeImds } from '../fakes/imds.js';
import { fakeContext } from '../fakes/context.js';

/** Every kind, with whether trying again shortly can succeed and the exit status it ends a command with. */
const TABLE: Record<ErrorKind, [retryable: boolean, exit: number]> = {
  Usage: [false, EXIT_USAGE],
  InvalidArgument: [false, EXIT_FAILED],
  InvalidMetadata: [false, EXIT_FAILED],
  Transient: [true, EXIT_FAILED],
  Unreachable: [true, EXIT_FAILED],
  NoSuchInterface: [false, EXIT_FAILED],
  NotAnEni: [true, EXIT_FAILED],
  Busy: [true, EXIT_FAILED],
  Conflict: [true, EXIT_FAILED],
  VerificationError: [true, EXIT_FAILED],
  PluginFailure: [true, EXIT_FAILED],
  PermissionDenied: [false, EXIT_FAILED],
  Bug: [false, EXIT_FAILED],
};

describe('error kinds', () => {
  for (const [kind, [retryable, exit]] of Object.entries(TABLE) as [ErrorKind, [boolean, number]][]) {
    test(`${kind}: ${retryable ? 'retryable' : 'not retryable'}, exit ${exit}`, () => {
      const e = new Ec2netError(kind, 'x');
      assert.equal(e.retryable, retryable);
      assert.equal(e.exitCode, exit);
    });
  }

  test('anything else thrown is a Bug, keeping its message and cause; an Ec2netError passes through', () => {
    const cause = new TypeError('undefined is not a function');
    const e = toEc2netError(cause);
    assert.deepEqual([e.kind, e.message, e.cause], ['Bug', 'undefined is not a function', cause]);
    const same = new Ec2netError('Busy', 'held');
    assert.equal(toEc2netError(same), same);
  });

  test("a transport's failure: Unreachable where the next endpoint may answer, Transient where this one failed", () => {
    assert.equal(transportError('connect ECONNREFUSED', true).kind, 'Unreachable');
    assert.equal(transportError('no answer within 2000 ms', false).kind, 'Transient');
  });
});

describe('no such interface and not an ENI are told apart', () => {
  const ETH0 = { mac: '02:00:00:00:00:01', id: 'eni-00000000000000001', deviceNumber: 0, subnet: '10.0.1.0/24', ipv4s: ['10.0.1.10'] };
  const kernel = () =>
    new FakeKernel({
      links_: [
        { index: 2, name: 'eth0', mac: ETH0.mac, up: true, altnames: [] },
        { index: 3, name: 'docker0', mac: '02:42:ac:11:00:01', up: true, altnames: [] },
      ],
      addresses_: [{ family: 4, dev: 'eth0', address: '10.0.1.10/24' }],
    });

  test('ec2ifup eth7 (no such link): NoSuchInterface, not retryable', async () => {
    const { ctx } = fakeContext(kernel(), FakeImds.of([ETH0]));
    await assert.rejects(ifup(ctx, 'eth7'), (e: unknown) => e instanceof Ec2netError && e.kind === 'NoSuchInterface' && !e.retryable);
  });

  test('ec2ifup docker0 (IMDS does not list its MAC): NotAnEni, retryable (IMDS can list an ENI late)', async () => {
    const { ctx } = fakeContext(kernel(), FakeImds.of([ETH0]));
    await assert.rejects(ifup(ctx, 'docker0'), (e: unknown) => e instanceof Ec2netError && e.kind === 'NotAnEni' && e.retryable && e.fields.mac === '02:42:ac:11:00:01');
  });
});
