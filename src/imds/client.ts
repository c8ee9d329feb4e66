/**
 * IMDSv2 client. Every answer is one of Found / NotFound / Transient, and only Found and NotFound are facts:
 * a Transient answer (timeout, 5xx, 429, reset, a 401 that survives a fresh token) must never be read as
 * "this ENI has no addresses". The transport, the clock, the sleep and the random source are injected.
 */
import { Ec2netError, isEc2netError } from '../errors.js';
import { VERSION } from '../version.js';

export type ImdsAnswer =
  | { readonly kind: 'found'; readonly body: string }
  | { readonly kind: 'notFound' }
  | { readonly kind: 'transient'; readonly reason: string };

export interface HttpRequest {
  readonly method: 'GET' | 'PUT';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly localAddress?: string;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

/**
 * Throws on transport failure (connection refused, reset, timeout, oversized body) an Ec2netError (see
 * transportError) whose message is the reason reported upward.
 */
export type HttpTransport = (req: HttpRequest) => Promise<HttpResponse>;

/**
 * A transport's failure: `Unreachable` where trying the next endpoint makes sense (no connection could be made),
 * `Transient` otherwise (the endpoint was reached and failed, or took too long).
 */
export function transportError(message: string, unreachable: boolean): Ec2netError {
  return new Ec2netError(unreachable ? 'Unreachable' : 'Transient', message);
}

export interface ImdsClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const DEFAULT_ENDPOINTS = ['http://169.254.169.254', 'http://[fd00:ec2::254]'] as const;
export const TOKEN_TTL_SECONDS = 21600;
/** Renew this long before the token's TTL runs out, so a request never carries a token about to expire. */
const TOKEN_RENEW_MARGIN_MS = 60_000;
export const REQUEST_TIMEOUT_MS = 2_000;
/** Metadata values are short; a body above this is refused rather than buffered. */
export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_ATTEMPTS = 4;
export const BACKOFF_BASE_MS = 200;
export const BACKOFF_CAP_MS = 2_000;

export interface ImdsClientOptions {
  readonly transport: HttpTransport;
  readonly clock: ImdsClock;
  /** Endpoints in order of preference; the next one is tried when one is unreachable. */
  readonly endpoints?: readonly string[];
  readonly localAddress?: string;
  readonly maxAttempts?: number;
}

/** Full-jitter exponential backoff: uniform in [0, min(cap, base × 2^attempt)). */
export function backoffMs(attempt: number, random: number): number {
  return Math.floor(random * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt));
}

export class ImdsClient {
  private token: { value: string; endpoint: string; expiresAt: number } | undefined;
  /** A token request in flight, shared by concurrent GETs so that they cost one PUT, not one each. */
  private pendingToken: Promise<ImdsAnswer> | undefined;
  private readonly endpoints: readonly string[];
  private endpointIndex = 0;
  private readonly maxAttempts: number;

  constructor(private readonly opts: ImdsClientOptions) {
    this.endpoints = opts.endpoints && opts.endpoints.length > 0 ? opts.endpoints : DEFAULT_ENDPOINTS;
    this.maxAttempts = opts.maxAttempts ?? MAX_ATTEMPTS;
  }

  /** GET /latest/meta-data/PATH with bounded retries. */
  async get(path: string): Promise<ImdsAnswer> {
    let reason = 'no attempt made';
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (attempt > 0) await this.opts.clock.sleep(backoffMs(attempt, this.opts.clock.random()));
      const answer = await this.getOnce(path);
      if (answer.kind !== 'transient') return answer;
      reason = answer.reason;
    }
    return { kind: 'transient', reason: `${reason} (after ${this.maxAttempts} attempts)` };
  }

  private async getOnce(path: string): Promise<ImdsAnswer> {
    const token = await this.currentToken();
    if (token.kind !== 'found') return token.kind === 'notFound' ? { kind: 'transient', reason: 'token endpoint answered 404' } : token;
    const res = await this.send('GET', `/latest/meta-data/${path}`, { 'X-aws-ec2-metadata-token': token.body });
    if ('reason' in res) return { kind: 'transient', reason: res.reason };
    if (res.status === 401) {
      // The token expired or IMDS restarted: drop it; the next attempt fetches a fresh one.
      this.token = undefined;
      return { kind: 'transient', reason: 'token refused (401)' };
    }
    return classify(res);
  }

  /**
   * Whether IMDS issues a token now: the one held, or one fetched (shared with the requests in flight, so asking
   * costs no request of its own). Never throws.
   */
  async hasToken(): Promise<boolean> {
    return (await this.currentToken()).kind === 'found';
  }

  private currentToken(): Promise<ImdsAnswer> {
    const now = this.opts.clock.now();
    if (this.token && this.token.expiresAt > now && this.token.endpoint === this.endpoints[this.endpointIndex]) {
      return Promise.resolve({ kind: 'found', body: this.token.value });
    }
    this.pendingToken ??= this.fetchToken(now).finally(() => {
      this.pendingToken = undefined;
    });
    return this.pendingToken;
  }

  private async fetchToken(now: number): Promise<ImdsAnswer> {
    const res = await this.send('PUT', '/latest/api/token', {
      'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS),
    });
    if ('reason' in res) return { kind: 'transient', reason: `token: ${res.reason}` };
    const answer = classify(res);
    if (answer.kind === 'found') {
      if (!/^[A-Za-z0-9_=+/-]{1,512}$/.test(answer.body)) return { kind: 'transient', reason: 'token: malformed token body' };
      this.token = {
        value: answer.body,
        endpoint: this.endpoints[this.endpointIndex] as string,
        expiresAt: now + TOKEN_TTL_SECONDS * 1000 - TOKEN_RENEW_MARGIN_MS,
      };
    }
    return answer.kind === 'transient' ? { kind: 'transient', reason: `token: ${answer.reason}` } : answer;
  }

  /** One request, walking the endpoint list on unreachable endpoints. */
  private async send(method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<HttpResponse | { reason: string }> {
    const reasons: string[] = [];
    for (let tried = 0; tried < this.endpoints.length; tried++) {
      const endpoint = this.endpoints[this.endpointIndex] as string;
      try {
        return await this.opts.transport({
          method,
          url: `${endpoint}${path}`,
          headers: { 'User-Agent': `ec2net/${VERSION}`, ...headers },
          timeoutMs: REQUEST_TIMEOUT_MS,
          maxBytes: MAX_BODY_BYTES,
          ...(this.opts.localAddress && !endpoint.includes('[') ? { localAddress: this.opts.localAddress } : {}),
        });
      } catch (e) {
        // Every endpoint's failure is reported: the fallback's "unreachable" must not hide the first one's cause.
        reasons.push(`${endpoint}: ${e instanceof Error ? e.message : String(e)}`);
        if (!isEc2netError(e, 'Unreachable')) return { reason: reasons.join('; ') };
        // Concurrent requests that all found this endpoint unreachable move on once, not once each: flipping back
        // and forth would send half of them to the dead endpoint again and drop the other one's token.
        if (this.endpoints[this.endpointIndex] === endpoint) {
          this.endpointIndex = (this.endpointIndex + 1) % this.endpoints.length;
          this.token = undefined;
        }
      }
    }
    return { reason: reasons.join('; ') };
  }
}

function classify(res: HttpResponse): ImdsAnswer {
  if (res.status === 200) return { kind: 'found', body: res.body };
  if (res.status === 404) return { kind: 'notFound' };
  return { kind: 'transient', reason: `HTTP ${res.status}` };
}
