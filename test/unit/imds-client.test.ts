import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  BACKOFF_BASE_MS,
  BACKOFF_CAP_MS,
  DEFAULT_ENDPOINTS,
  ImdsClient,
  MAX_ATTEMPTS,
  MAX_BODY_BYTES,
  REQUEST_TIMEOUT_MS,
  transportError,
  backoffMs,
  type HttpRequest,
  type HttpResponse,
  type ImdsClock,
} from '../../src/imds/client.js';
import { VERSION } from '../../src/version.js';
import type { Ec2netError } from '../../src/errors.js';

const V4 = DEFAULT_ENDPOINTS[0];
const V6 = DEFAULT_ENDPOINTS[1];
const HOUR_MS = 3_600_000;
const TOKEN_PATH = '/latest/api/token';
const META = '/latest/meta-data/';

/** Time moves only when someone sleeps (or the test advances it). */
class FakeClock implements ImdsClock {
  t = 1_700_000_000_000;
  readonly sleeps: number[] = [];
  constructor(private readonly randomValue: () => number = () => 0.5) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
  }
  random(): number {
    return this.randomValue();
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

type Fault = { status: number; body?: string } | { error: Ec2netError };

/**
 * An in-memory IMDSv2 behind both endpoints. Tokens are issued by PUT with the TTL asked for and expire against
 * the fake clock; a GET without a live token answers 401. Faults are scripted per endpoint or per path and are
 * consumed one per request.
 */
class FakeImds {
  readonly values = new Map<string, string>();
  readonly requests: HttpRequest[] = [];
  /** Answers of this service, for assertions: status per request, 'throw' when the transport threw. */
  readonly outcomes: (number | 'throw')[] = [];
  private readonly tokens = new Map<string, number>();
  private serial = 0;
  /** Faults per URL path (e.g. '/latest/api/token', '/latest/meta-data/mac'), consumed in order. */
  readonly pathFaults = new Map<string, Fault[]>();
  /** Endpoints that fail every request. */
  readonly endpointDown = new Map<string, Ec2netError>();
  /** Overrides the token body the PUT returns, consumed in order. */
  readonly tokenBodies: string[] = [];
  alwaysFault = new Map<string, Fault>();

  constructor(private readonly clock: FakeClock) {}

  /** IMDS restarted, or every token got revoked. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  requestsTo(kind: 'PUT' | 'GET', endpoint?: string): HttpRequest[] {
    return this.requests.filter((r) => r.method === kind && (endpoint === undefined || r.url.startsWith(endpoint)));
  }

  readonly transport = async (req: HttpRequest): Promise<HttpResponse> => {
    this.requests.push(req);
    await Promise.resolve();
    const url = new URL(req.url);
    const endpoint = `${url.protocol}//${url.host}`;
    const down = this.endpointDown.get(endpoint);
    if (down) return this.fail(down);
    const always = this.alwaysFault.get(url.pathname);
    const fault = always ?? this.pathFaults.get(url.pathname)?.shift();
    if (fault) return 'error' in fault ? this.fail(fault.error) : this.answer(fault.status, fault.body ?? '');

    if (url.pathname === TOKEN_PATH) {
      if (req.method !== 'PUT') return this.answer(405, '');
      if ('X-Forwarded-For' in req.headers) return this.answer(403, '');
      const ttlText = req.headers['X-aws-ec2-metadata-token-ttl-seconds'];
      const ttl = Number(ttlText);
      if (ttlText === undefined || !/^[0-9]+$/.test(ttlText) || ttl < 1 || ttl > 21600) return this.answer(400, '');
      const token = this.tokenBodies.shift() ?? `AQAEAFake${++this.serial}Token==`;
      this.tokens.set(token, this.clock.now() + ttl * 1000);
      return this.answer(200, token);
    }
    if (!url.pathname.startsWith(META) || req.method !== 'GET') return this.answer(405, '');
    const token = req.headers['X-aws-ec2-metadata-token'];
    const expiresAt = token === undefined ? undefined : this.tokens.get(token);
    if (expiresAt === undefined || expiresAt <= this.clock.now()) return this.answer(401, '');
    const value = this.values.get(url.pathname.slice(META.length));
    if (value === undefined) return this.answer(404, '');
    // The real transport refuses a body over maxBytes rather than buffering it.
    if (Buffer.byteLength(value) > req.maxBytes) return this.fail(transportError(`response body exceeds ${req.maxBytes} bytes`, false));
    return this.answer(200, value);
  };

  private answer(status: number, body: string): HttpResponse {
    this.outcomes.push(status);
    return { status, body };
  }

  private fail(e: Ec2netError): never {
    this.outcomes.push('throw');
    throw e;
  }
}

function setup(opts: { random?: () => number; endpoints?: readonly string[]; localAddress?: string; maxAttempts?: number } = {}) {
  const clock = new FakeClock(opts.random);
  const imds = new FakeImds(clock);
  imds.values.set('mac', '0a:00:00:00:00:01');
  imds.values.set('instance-id', 'i-0123456789abcdef0');
  imds.values.set('network/interfaces/macs/', '0a:00:00:00:00:01/\n0a:00:00:00:00:02/');
  const client = new ImdsClient({
    transport: imds.transport,
    clock,
    ...(opts.endpoints ? { endpoints: opts.endpoints } : {}),
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
  });
  return { clock, imds, client };
}

/** 0 ≤ sleep < min(cap, base · 2^attempt), attempt counted from 1 for the first retry. */
function assertBackoff(sleeps: readonly number[]): void {
  sleeps.forEach((ms, i) => {
    const attempt = i + 1;
    const bound = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
    assert.ok(Number.isInteger(ms) && ms >= 0 && ms < bound, `sleep ${i} = ${ms} is outside [0, ${bound})`);
  });
}

describe('ImdsClient tokens', () => {
  test('one token serves many GETs', async () => {
    const { imds, client, clock } = setup();
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await client.get('mac'), { kind: 'found', body: '0a:00:00:00:00:01' });
      clock.advance(60_000);
    }
    assert.equal(imds.requestsTo('PUT').length, 1);
    assert.equal(imds.requestsTo('GET').length, 10);
    const tokens = new Set(imds.requestsTo('GET').map((r) => r.headers['X-aws-ec2-metadata-token']));
    assert.equal(tokens.size, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  test('the token PUT asks for a TTL in 1..21600 and carries no X-Forwarded-For', async () => {
    const { imds, client } = setup();
    await client.get('mac');
    const [put] = imds.requestsTo('PUT');
    assert.ok(put);
    assert.equal(put.url, `${V4}${TOKEN_PATH}`);
    const ttl = Number(put.headers['X-aws-ec2-metadata-token-ttl-seconds']);
    assert.ok(Number.isInteger(ttl) && ttl >= 1 && ttl <= 21600, `ttl ${ttl}`);
    assert.equal(Object.keys(put.headers).some((h) => h.toLowerCase() === 'x-forwarded-for'), false);
  });

  test('the GET goes to the meta-data path with the token', async () => {
    const { imds, client } = setup();
    await client.get('network/interfaces/macs/');
    const [get] = imds.requestsTo('GET');
    assert.ok(get);
    assert.equal(get.url, `${V4}/latest/meta-data/network/interfaces/macs/`);
    assert.match(get.headers['X-aws-ec2-metadata-token'] ?? '', /^AQAEAFake1Token==$/);
  });

  test('the token is renewed before it expires, so no request is refused', async () => {
    const { imds, client, clock } = setup();
    await client.get('mac');
    clock.advance(HOUR_MS);
    await client.get('mac');
    assert.equal(imds.requestsTo('PUT').length, 1, 'still fresh after an hour');
    // One second before the server expires the first token: the client must not send it any more.
    clock.advance(6 * HOUR_MS - HOUR_MS - 1_000);
    assert.equal((await client.get('mac')).kind, 'found');
    assert.equal(imds.requestsTo('PUT').length, 2);
    clock.advance(7 * HOUR_MS);
    assert.equal((await client.get('mac')).kind, 'found');
    assert.equal(imds.requestsTo('PUT').length, 3);
    assert.ok(!imds.outcomes.includes(401), `a request was refused: ${imds.outcomes.join(',')}`);
    assert.deepEqual(clock.sleeps, []);
  });

  test('a 401 (IMDS restarted) gets one fresh token, then the answer', async () => {
    const { imds, client, clock } = setup();
    await client.get('mac');
    imds.revokeTokens();
    assert.deepEqual(await client.get('instance-id'), { kind: 'found', body: 'i-0123456789abcdef0' });
    assert.equal(imds.requestsTo('PUT').length, 2);
    assert.equal(imds.requestsTo('GET').length, 3);
    const gets = imds.requestsTo('GET');
    assert.notEqual(gets[2]?.headers['X-aws-ec2-metadata-token'], gets[1]?.headers['X-aws-ec2-metadata-token']);
    assert.equal(imds.outcomes.filter((o) => o === 401).length, 1);
    assertBackoff(clock.sleeps);
  });

  test('a 401 that survives fresh tokens is transient, bounded, and never notFound', async () => {
    const { imds, client } = setup();
    imds.alwaysFault.set(`${META}mac`, { status: 401 });
    const answer = await client.get('mac');
    assert.equal(answer.kind, 'transient');
    assert.match(answer.kind === 'transient' ? answer.reason : '', /401/);
    assert.equal(imds.requestsTo('GET').length, MAX_ATTEMPTS);
    assert.equal(imds.requestsTo('PUT').length, MAX_ATTEMPTS);
  });

  test('a malformed token body is never sent', async () => {
    const { imds, client } = setup();
    imds.tokenBodies.push('bad token\n$(id)', 'x'.repeat(10_000), '', 'tok"en');
    const answer = await client.get('mac');
    assert.equal(answer.kind, 'transient');
    assert.match(answer.kind === 'transient' ? answer.reason : '', /malformed/);
    assert.equal(imds.requestsTo('GET').length, 0);
    assert.equal(imds.requestsTo('PUT').length, MAX_ATTEMPTS);
  });

  test('after a malformed token body, a good one is fetched and used', async () => {
    const { imds, client, clock } = setup();
    imds.tokenBodies.push('bad token;id');
    assert.equal((await client.get('mac')).kind, 'found');
    assert.equal(imds.requestsTo('PUT').length, 2);
    const gets = imds.requestsTo('GET');
    assert.equal(gets.length, 1);
    assert.equal(gets[0]?.headers['X-aws-ec2-metadata-token'], 'AQAEAFake1Token==');
    assertBackoff(clock.sleeps);
  });

  test('a token endpoint that answers 404 is transient, not notFound', async () => {
    const { imds, client } = setup();
    imds.alwaysFault.set(TOKEN_PATH, { status: 404 });
    const answer = await client.get('mac');
    assert.equal(answer.kind, 'transient');
    assert.equal(imds.requestsTo('GET').length, 0);
  });

  test('a token endpoint that answers 500 twice recovers', async () => {
    const { imds, client, clock } = setup();
    imds.pathFaults.set(TOKEN_PATH, [{ status: 500 }, { status: 503 }]);
    assert.equal((await client.get('mac')).kind, 'found');
    assert.equal(imds.requestsTo('PUT').length, 3);
    assert.equal(clock.sleeps.length, 2);
    assertBackoff(clock.sleeps);
  });
});

describe('ImdsClient answers and retries', () => {
  test('404 is notFound at once: no retry, no sleep', async () => {
    const { imds, client, clock } = setup();
    assert.deepEqual(await client.get('network/interfaces/macs/0a:00:00:00:00:02/ipv4-prefix'), { kind: 'notFound' });
    assert.equal(imds.requestsTo('GET').length, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  test('500 twice then recover', async () => {
    const { imds, client, clock } = setup();
    imds.pathFaults.set(`${META}mac`, [{ status: 500 }, { status: 500 }]);
    assert.deepEqual(await client.get('mac'), { kind: 'found', body: '0a:00:00:00:00:01' });
    assert.equal(imds.requestsTo('GET').length, 3);
    assert.equal(imds.requestsTo('PUT').length, 1, 'a 5xx does not cost the token');
    assert.equal(clock.sleeps.length, 2);
    assertBackoff(clock.sleeps);
  });

  for (const status of [500, 502, 503, 429]) {
    test(`HTTP ${status} forever: bounded by MAX_ATTEMPTS, transient naming the status`, async () => {
      const { imds, client, clock } = setup();
      imds.alwaysFault.set(`${META}mac`, { status });
      const answer = await client.get('mac');
      assert.equal(answer.kind, 'transient');
      const reason = answer.kind === 'transient' ? answer.reason : '';
      assert.match(reason, new RegExp(`HTTP ${status}`));
      assert.match(reason, new RegExp(`${MAX_ATTEMPTS} attempts`));
      assert.equal(imds.requestsTo('GET').length, MAX_ATTEMPTS);
      assert.equal(clock.sleeps.length, MAX_ATTEMPTS - 1);
      assertBackoff(clock.sleeps);
    });
  }

  test('a 200 with an empty body is found, not absent', async () => {
    const { imds, client } = setup();
    imds.values.set('network/interfaces/macs/0a:00:00:00:00:02/ipv6s', '');
    assert.deepEqual(await client.get('network/interfaces/macs/0a:00:00:00:00:02/ipv6s'), { kind: 'found', body: '' });
  });

  test('retries wait: each retry sleeps a jittered, growing, capped time', async () => {
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const { imds, client, clock } = setup({ random: () => r, maxAttempts: 8 });
      imds.alwaysFault.set(`${META}mac`, { status: 503 });
      await client.get('mac');
      assert.equal(clock.sleeps.length, 7);
      assertBackoff(clock.sleeps);
      if (r > 0) assert.ok(clock.sleeps.every((s) => s > 0), `random ${r}: a retry without a wait: ${clock.sleeps.join(',')}`);
      if (r === 0.999999) {
        assert.deepEqual(clock.sleeps, [399, 799, 1599, 1999, 1999, 1999, 1999]);
      }
    }
  });

  test('backoffMs stays inside the full-jitter bounds', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const bound = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
      for (const r of [0, 0.1, 0.5, 0.9, 0.9999999]) {
        const ms = backoffMs(attempt, r);
        assert.ok(ms >= 0 && ms < bound, `attempt ${attempt}, random ${r}: ${ms}`);
      }
    }
    assert.equal(backoffMs(3, 0), 0);
    assert.equal(backoffMs(1, 0.5), 200);
  });

  test('maxAttempts bounds the requests', async () => {
    const { imds, client } = setup({ maxAttempts: 2 });
    imds.alwaysFault.set(`${META}mac`, { status: 500 });
    assert.equal((await client.get('mac')).kind, 'transient');
    assert.equal(imds.requestsTo('GET').length, 2);
  });

  test('a body over maxBytes is transient, the reason says why', async () => {
    const { imds, client } = setup();
    imds.values.set('big', 'x'.repeat(MAX_BODY_BYTES + 1));
    const answer = await client.get('big');
    assert.equal(answer.kind, 'transient');
    assert.match(answer.kind === 'transient' ? answer.reason : '', /exceeds/);
  });

  test('a body of exactly maxBytes is found', async () => {
    const { imds, client } = setup();
    imds.values.set('big', 'x'.repeat(MAX_BODY_BYTES));
    const answer = await client.get('big');
    assert.equal(answer.kind, 'found');
  });
});

describe('ImdsClient endpoints and transport options', () => {
  test('an unreachable first endpoint falls over to the second, and stays there', async () => {
    const { imds, client, clock } = setup();
    imds.endpointDown.set(V4, transportError('EHOSTUNREACH: no route', true));
    assert.equal((await client.get('mac')).kind, 'found');
    assert.equal((await client.get('instance-id')).kind, 'found');
    assert.equal(imds.requests.filter((r) => r.url.startsWith(V4)).length, 1);
    assert.equal(imds.requestsTo('GET', V6).length, 2);
    assert.equal(imds.requestsTo('PUT', V6).length, 1);
    assert.deepEqual(clock.sleeps, [], 'falling over is not a retry');
  });

  test('requests in flight together that all find the endpoint gone fall over once, not once each', async () => {
    const { imds, client } = setup();
    assert.equal((await client.get('mac')).kind, 'found');
    imds.endpointDown.set(V4, transportError('EHOSTUNREACH: no route', true));
    const answers = await Promise.all(['mac', 'instance-id', 'mac', 'instance-id', 'mac'].map((k) => client.get(k)));
    assert.deepEqual(answers.map((a) => a.kind), ['found', 'found', 'found', 'found', 'found']);
    // Each of the five met the dead endpoint once; none was sent back to it by another's failure.
    assert.equal(imds.requestsTo('GET', V4).length, 1 + 5);
    assert.equal((await client.get('instance-id')).kind, 'found');
    assert.equal(imds.requestsTo('GET', V4).length, 1 + 5, 'and it stays on the second endpoint');
  });

  test('a failure that is not "unreachable" does not fall over', async () => {
    const { imds, client } = setup();
    imds.endpointDown.set(V4, transportError('no answer within 2000 ms', false));
    const answer = await client.get('mac');
    assert.equal(answer.kind, 'transient');
    assert.match(answer.kind === 'transient' ? answer.reason : '', /no answer within 2000 ms/);
    assert.equal(imds.requests.filter((r) => r.url.startsWith(V6)).length, 0);
    assert.equal(imds.requests.length, MAX_ATTEMPTS);
  });

  test('an error that is not a transport failure does not fall over', async () => {
    const { imds } = setup();
    const transport = imds.transport;
    const c = new ImdsClient({
      transport: async (req) => {
        if (req.url.startsWith(V4)) {
          imds.requests.push(req);
          throw new Error('boom');
        }
        return transport(req);
      },
      clock: new FakeClock(),
    });
    const answer = await c.get('mac');
    assert.equal(answer.kind, 'transient');
    assert.match(answer.kind === 'transient' ? answer.reason : '', /boom/);
    assert.equal(imds.requests.filter((r) => r.url.startsWith(V4)).length, MAX_ATTEMPTS);
    assert.equal(imds.requests.filter((r) => r.url.startsWith(V6)).length, 0);
  });

  test('every endpoint unreachable: transient, bounded by attempts × endpoints', async () => {
    const { imds, client } = setup();
    imds.endpointDown.set(V4, transportError('ENETUNREACH', true));
    imds.endpointDown.set(V6, transportError('EADDRNOTAVAIL', true));
    const answer = await client.get('mac');
    assert.equal(answer.kind, 'transient');
    assert.match(answer.kind === 'transient' ? answer.reason : '', /ENETUNREACH|EADDRNOTAVAIL/);
    assert.equal(imds.requests.length, MAX_ATTEMPTS * 2);
  });

  test('an endpoint that drops mid-way: the GET falls over and still succeeds', async () => {
    const { imds, client } = setup();
    assert.equal((await client.get('mac')).kind, 'found');
    imds.endpointDown.set(V4, transportError('ECONNREFUSED', true));
    assert.deepEqual(await client.get('instance-id'), { kind: 'found', body: 'i-0123456789abcdef0' });
    assert.ok(imds.requestsTo('GET', V6).length >= 1);
  });

  test('the configured endpoint list is used in order', async () => {
    const { imds, client } = setup({ endpoints: ['http://127.0.0.1:8111', 'http://127.0.0.2:8111'] });
    await client.get('mac');
    assert.ok(imds.requests.length > 0);
    assert.ok(imds.requests.every((r) => r.url.startsWith('http://127.0.0.1:8111/')));
  });

  test('User-Agent, timeout and size bound go with every request', async () => {
    const { imds, client } = setup();
    imds.pathFaults.set(`${META}mac`, [{ status: 500 }]);
    await client.get('mac');
    await client.get('network/interfaces/macs/');
    await client.get('nope');
    assert.ok(imds.requests.length >= 5);
    assert.match(VERSION, /^\d+\.\d+\.\d+/);
    for (const r of imds.requests) {
      assert.equal(r.headers['User-Agent'], `ec2net/${VERSION}`);
      assert.equal(r.timeoutMs, REQUEST_TIMEOUT_MS);
      assert.equal(r.maxBytes, MAX_BODY_BYTES);
    }
    assert.ok(REQUEST_TIMEOUT_MS > 0 && REQUEST_TIMEOUT_MS <= 10_000);
    assert.ok(MAX_BODY_BYTES > 0 && MAX_BODY_BYTES <= 1024 * 1024);
  });

  test('localAddress is bound for the IPv4 endpoint only', async () => {
    const { imds, client } = setup({ localAddress: '10.0.1.10' });
    assert.equal((await client.get('mac')).kind, 'found');
    const v4 = imds.requests.filter((r) => r.url.startsWith(V4));
    assert.ok(v4.length >= 2);
    assert.ok(v4.every((r) => r.localAddress === '10.0.1.10'));
    imds.endpointDown.set(V4, transportError('EHOSTUNREACH', true));
    assert.equal((await client.get('instance-id')).kind, 'found');
    const v6 = imds.requests.filter((r) => r.url.startsWith(V6));
    assert.ok(v6.length >= 1);
    assert.ok(v6.every((r) => r.localAddress === undefined), 'an IPv4 source cannot reach an IPv6 endpoint');
  });

  test('without localAddress none is sent', async () => {
    const { imds, client } = setup();
    await client.get('mac');
    assert.ok(imds.requests.every((r) => !('localAddress' in r)));
  });
});
