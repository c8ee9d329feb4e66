/**
 * The one error type: what each kind means for a retry and for the exit status (0 success, 2 usage, 1 a bug, 20-29
 * the kinds after which a retry can help, 30-39 those that will not work until something changes), and the kinds
 * the flows raise for a missing interface, a MAC IMDS does not list, and a link that is no ENI at all.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ec2netError, EXIT_OK, EXIT_USAGE, KINDS, exitCodeOf, toEc2netError, type ErrorKind } from '../../src/errors.js';
import { transportError } from '../../src/imds/client.js';
import { ifup } from '../../src/agent/ifup.js';
import { FakeKernel } from '../fakes/kernel.js';
import { FakeImds } from '../fakes/imds.js';
import { fakeContext } from '../fakes/context.js';

/**
 * Every kind, with whether trying again shortly can succeed and the exit status it ends a command with: the
 * documented table (README, the man pages' EXIT STATUS), written out here so that a renumbering fails.
 */
const TABLE: Record<ErrorKind, [retryable: boolean, exit: number]> = {
  Bug: [false, 1],
  Usage: [false, EXIT_USAGE],
  Transient: [true, 20],
  Unreachable: [true, 21],
  NotAnEni: [true, 22],
  Busy: [true, 23],
  Conflict: [true, 24],
  VerificationError: [true, 25],
  PluginFailure: [true, 26],
  InvalidArgument: [false, 30],
  InvalidMetadata: [false, 31],
  NoSuchInterface: [false, 32],
  NotEthernet: [false, 33],
  PermissionDenied: [false, 34],
};

describe('error kinds', () => {
  for (const [kind, [retryable, exit]] of Object.entries(TABLE) as [ErrorKind, [boolean, number]][]) {
    test(`${kind}: ${retryable ? 'retryable' : 'not retryable'}, exit ${exit}`, () => {
      const e = new Ec2netError(kind, 'x');
      assert.equal(e.retryable, retryable);
      assert.equal(e.exitCode, exit);
    });
  }

  test('every kind has a code of its own; a retry can help exactly on 20-29', () => {
    assert.deepEqual(Object.keys(KINDS).sort(), Object.keys(TABLE).sort());
    const codes = Object.values(KINDS).map((k) => k.exit);
    assert.equal(new Set(codes).size, codes.length);
    assert.ok(!codes.includes(EXIT_OK));
    for (const [kind, facts] of Object.entries(KINDS)) assert.equal(facts.retryable, facts.exit >= 20 && facts.exit <= 29, kind);
  });

  test('several failures (ec2ifscan): the first a retry cannot help decides, else the first', () => {
    const e = (kind: ErrorKind) => new Ec2netError(kind, 'x');
    assert.equal(exitCodeOf([]), EXIT_OK);
    assert.equal(exitCodeOf([e('Transient'), e('Busy')]), 20);
    assert.equal(exitCodeOf([e('Transient'), e('InvalidMetadata'), e('NoSuchInterface')]), 31);
    assert.equal(exitCodeOf([new TypeError('x')]), 1);
  });

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
