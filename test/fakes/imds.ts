/**
 * An in-memory IMDSv2 behind the HttpTransport seam, for tests that run flows without a network. Metadata is a
 * flat map of paths to bodies; directories are derived. Faults are scripted per path.
 */
import { transportError, type HttpRequest, type HttpResponse, type HttpTransport } from '../../src/imds/client.js';

export interface FakeEni {
  mac: string;
  id: string;
  deviceNumber: number | string;
  /** '' for an IPv6-only network interface: subnet-ipv4-cidr-block answers 404. */
  subnet: string;
  /** None for an IPv6-only network interface: local-ipv4s answers 404. */
  ipv4s: string[];
  prefixes?: string[];
  networkCard?: number;
  ipv6s?: string[];
  ipv6Prefixes?: string[];
  subnet6?: string;
}

export type Fault = { status: number } | { error: 'reset' | 'unreachable' };

export class FakeImds {
  values = new Map<string, string>();
  /** path → faults consumed one per request; a fault with Infinity count stays. */
  faults = new Map<string, { fault: Fault; times: number }>();
  readonly requests: string[] = [];
  /** The source address each request asked to leave from ('' for the default). */
  readonly sources: string[] = [];
  /** path → bodies served one per GET; the last one stays. Models values that change while IMDS propagates. */
  sequences = new Map<string, string[]>();

  static of(enis: FakeEni[]): FakeImds {
    const imds = new FakeImds();
    for (const eni of enis) imds.attach(eni);
    return imds;
  }

  attach(eni: FakeEni): void {
    const base = `network/interfaces/macs/${eni.mac}/`;
    if (String(eni.deviceNumber) === '0' && !eni.networkCard) this.values.set('mac', eni.mac);
    this.values.set(`${base}device-number`, String(eni.deviceNumber));
    this.values.set(`${base}interface-id`, eni.id);
    if (eni.subnet !== '') this.values.set(`${base}subnet-ipv4-cidr-block`, eni.subnet);
    if (eni.ipv4s.length > 0) this.values.set(`${base}local-ipv4s`, eni.ipv4s.join('\n'));
    if (eni.prefixes?.length) this.values.set(`${base}ipv4-prefix`, eni.prefixes.join('\n'));
    if (eni.networkCard !== undefined) this.values.set(`${base}network-card`, String(eni.networkCard));
    if (eni.ipv6s?.length) this.values.set(`${base}ipv6s`, eni.ipv6s.join('\n'));
    if (eni.ipv6Prefixes?.length) this.values.set(`${base}ipv6-prefix`, eni.ipv6Prefixes.join('\n'));
    if (eni.subnet6) this.values.set(`${base}subnet-ipv6-cidr-blocks`, eni.subnet6);
  }

  set(path: string, body: string | undefined): void {
    if (body === undefined) this.values.delete(path);
    else this.values.set(path, body);
  }

  fail(path: string, fault: Fault, times = Infinity): void {
    this.faults.set(path, { fault, times });
  }

  sequence(path: string, bodies: string[]): void {
    this.sequences.set(path, [...bodies]);
  }

  private body(path: string): string | undefined {
    const seq = this.sequences.get(path);
    if (seq && seq.length > 0) {
      const next = seq.length > 1 ? seq.shift() : seq[0];
      this.values.set(path, next as string);
    }
    const direct = this.values.get(path);
    if (direct !== undefined) return direct;
    if (!path.endsWith('/') && path !== '') return undefined;
    const children = new Set<string>();
    for (const key of this.values.keys()) {
      if (!key.startsWith(path)) continue;
      const rest = key.slice(path.length);
      const slash = rest.indexOf('/');
      children.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    return children.size > 0 ? [...children].join('\n') : undefined;
  }

  readonly transport: HttpTransport = async (req: HttpRequest): Promise<HttpResponse> => {
    const path = new URL(req.url).pathname.replace(/^\/latest\/meta-data\//, '');
    this.requests.push(`${req.method} ${path}`);
    this.sources.push(req.localAddress ?? '');
    const f = this.faults.get(path);
    if (f && f.times > 0) {
      f.times -= 1;
      if ('status' in f.fault) return { status: f.fault.status, body: '' };
      throw transportError(f.fault.error, f.fault.error === 'unreachable');
    }
    if (req.method === 'PUT') return { status: 200, body: 'token' };
    const body = this.body(path);
    return body === undefined ? { status: 404, body: '' } : { status: 200, body };
  };
}

/**
 * A clock whose sleep advances time at once, so flows with bounded waits run in a fraction of their bound. Each
 * sleep still yields a real timer turn, so I/O that another flow is waiting on (a lock holder's file write) can
 * complete meanwhile.
 */
export function fakeClock(start = 1_000_000) {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
    random: () => 0.5,
  };
}
