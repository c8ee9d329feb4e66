/**
 * The HTTP transport behind the IMDS client: HTTP/1.1 GET and PUT over node:net, with the response read straight
 * from the socket.
 *
 * Not node:http, measured: loading its client (with the agent, the parser binding and the server module it pulls
 * in) and sending a command's first requests through it while its code is still cold was a fifth of a no-op
 * ec2ifup beyond node's own start, and in the daemon its per-request machinery (request and response streams,
 * agent events) was two thirds of a no-op refresh round's CPU. IMDS speaks a small, fixed part of HTTP/1.1:
 * this client sends requests without a body but for a PUT's empty one, and reads a status line, headers and a
 * body framed by Content-Length, chunked encoding or the end of the connection; anything else is a transport
 * error, as is a header block above 16 KiB or a body above the request's limit.
 */
import { connect, type Socket } from 'node:net';
import { transportError, type HttpRequest, type HttpResponse, type HttpTransport } from '../imds/client.js';
import type { Ec2netError } from '../errors.js';

/** Connection failures for which another endpoint may still answer. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT', 'ENOTFOUND']);
const MAX_HEADER_BYTES = 16 * 1024;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
}

function endpointOf(url: URL): Endpoint {
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80), hostHeader: url.host };
}

/** What the response parser needs from the bytes read so far: a response, an error, or more bytes. */
type Parsed = { readonly done: HttpResponse & { readonly keepAlive: boolean; readonly rest: number } } | { readonly error: string } | undefined;

/**
 * Parses one response at the start of `buf`. `closed`: the peer has ended the connection, which completes a body
 * without other framing. `rest` is how many bytes follow the response (a keep-alive socket with any is dropped).
 */
export function parseResponse(buf: Buffer, closed: boolean, maxBytes: number): Parsed {
  const headEnd = buf.indexOf(HEADER_END);
  if (headEnd < 0) {
    if (buf.length > MAX_HEADER_BYTES) return { error: `response header exceeds ${MAX_HEADER_BYTES} bytes` };
    return closed ? { error: 'connection closed before a complete response header' } : undefined;
  }
  if (headEnd > MAX_HEADER_BYTES) return { error: `response header exceeds ${MAX_HEADER_BYTES} bytes` };
  const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
  const status = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: |$)/.exec(lines[0] ?? '');
  if (!status) return { error: 'malformed status line' };
  let length: number | undefined;
  let chunked = false;
  let keepAlive = lines[0]?.startsWith('HTTP/1.1') ?? false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { error: 'malformed header line' };
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') {
      if (!/^[0-9]{1,10}$/.test(value) || (length !== undefined && length !== Number(value))) return { error: 'malformed Content-Length' };
      length = Number(value);
    } else if (name === 'transfer-encoding') {
      if (value !== 'chunked') return { error: `unsupported Transfer-Encoding ${JSON.stringify(value.slice(0, 32))}` };
      chunked = true;
    } else if (name === 'connection') {
      if (value.split(',').some((t) => t.trim() === 'close')) keepAlive = false;
    }
  }
  const bodyStart = headEnd + HEADER_END.length;
  const done = (body: Buffer, end: number) => ({
    done: { status: Number(status[1]), body: body.toString('utf8'), keepAlive, rest: buf.length - end },
  });
  // 1xx, 204 and 304 carry no body whatever the headers say (RFC 9112, 6.3).
  if (/^(1..|204|304)$/.test(status[1] as string)) return done(Buffer.alloc(0), bodyStart);
  if (chunked) {
    const parts: Buffer[] = [];
    let size = 0;
    let off = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf(CRLF, off);
      if (lineEnd < 0) return closed ? { error: 'connection closed inside a chunked body' } : undefined;
      const sizeText = buf.toString('latin1', off, lineEnd).split(';')[0]?.trim() ?? '';
      if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return { error: 'malformed chunk size' };
      const n = parseInt(sizeText, 16);
      size += n;
      if (size > maxBytes) return { error: `response body exceeds ${maxBytes} bytes` };
      if (n === 0) {
        // No trailers from IMDS: the last chunk is followed by the empty line that ends the message.
        if (buf.length < lineEnd + 4) return closed ? { error: 'connection closed inside a chunked body' } : undefined;
        if (buf[lineEnd + 2] !== 13 || buf[lineEnd + 3] !== 10) return { error: 'chunked body has trailers' };
        return done(Buffer.concat(parts), lineEnd + 4);
      }
      const dataEnd = lineEnd + 2 + n;
      if (buf.length < dataEnd + 2) return closed ? { error: 'connection closed inside a chunked body' } : undefined;
      if (buf[dataEnd] !== 13 || buf[dataEnd + 1] !== 10) return { error: 'malformed chunk' };
      parts.push(buf.subarray(lineEnd + 2, dataEnd));
      off = dataEnd + 2;
    }
  }
  if (length !== undefined) {
    if (length > maxBytes) return { error: `response body exceeds ${maxBytes} bytes` };
    if (buf.length < bodyStart + length) return closed ? { error: 'connection closed inside the body' } : undefined;
    return done(buf.subarray(bodyStart, bodyStart + length), bodyStart + length);
  }
  // Framed by the end of the connection.
  if (buf.length - bodyStart > maxBytes) return { error: `response body exceeds ${maxBytes} bytes` };
  if (!closed) return undefined;
  return { done: { status: Number(status[1]), body: buf.toString('utf8', bodyStart), keepAlive: false, rest: 0 } };
}

function requestText(req: HttpRequest, e: Endpoint, keepAlive: boolean, path: string): string {
  let text = `${req.method} ${path} HTTP/1.1\r\nHost: ${e.hostHeader}\r\n`;
  for (const name of Object.keys(req.headers)) {
    const value = req.headers[name] as string;
    // Values come from this program, never from IMDS; a line break would still be refused rather than sent.
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw transportError(`header ${JSON.stringify(name)} holds a line break`, false);
    text += `${name}: ${value}\r\n`;
  }
  if (req.method === 'PUT') text += 'Content-Length: 0\r\n';
  if (!keepAlive) text += 'Connection: close\r\n';
  return `${text}\r\n`;
}

/**
 * Connections by endpoint and local address: idle ones kept for the next request, a connection the server closes
 * leaves the pool, and at most `max` open at once, whatever their endpoints and local addresses (AWS limits the
 * connections an instance may hold to IMDS, and throttles it per instance). A request that finds them all busy
 * waits for the next one released or closed; an idle connection to another endpoint or from another local
 * address is closed to make room. With a finite `overflowAfterMs` (the daemon's) it waits no longer than that and
 * then opens one beyond the cap: a server slow to answer gets the requests in parallel, as it would without a
 * cap, instead of one after another until the requests' deadlines run out.
 */
class Pool {
  private readonly idle = new Map<string, { socket: Socket; drop: () => void }[]>();
  private readonly open = new Set<Socket>();
  private readonly waiting: { key: string; hand: (socket: Socket | undefined) => void }[] = [];
  private closed = false;
  /** The most connections open at once so far. */
  peak = 0;

  constructor(
    readonly keepAlive: boolean,
    private readonly max: number,
    private readonly overflowAfterMs: number,
  ) {}

  /**
   * A connection for `key`: an idle one, a new one while under the cap, else the next one released (or the room
   * a closed one leaves), else after overflowAfterMs a new one; `undefined` once the pool is destroyed. `wait`
   * receives the function that takes a waiting request out of the line, for its deadline.
   */
  async acquire(key: string, connect: () => Socket, wait: (leave: () => void) => void): Promise<{ socket: Socket; reused: boolean } | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const socket = this.take(key);
      if (socket) return { socket, reused: true };
      if (this.open.size >= this.max) this.closeIdleOther(key);
      if (this.open.size < this.max) return { socket: this.connect(connect), reused: false };
      const handed = await new Promise<Socket | 'overflow' | undefined>((resolve) => {
        const leave = () => {
          if (timer) clearTimeout(timer);
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
        };
        const entry = {
          key,
          hand: (s: Socket | undefined) => {
            if (timer) clearTimeout(timer);
            resolve(s);
          },
        };
        const timer = Number.isFinite(this.overflowAfterMs)
          ? setTimeout(() => {
              leave();
              resolve('overflow');
            }, this.overflowAfterMs)
          : undefined;
        this.waiting.push(entry);
        wait(leave);
      });
      if (handed === 'overflow') return this.closed ? undefined : { socket: this.connect(connect), reused: false };
      if (handed) return { socket: handed, reused: true };
    }
  }

  private connect(connect: () => Socket): Socket {
    const socket = connect();
    this.open.add(socket);
    this.peak = Math.max(this.peak, this.open.size);
    socket.once('close', () => {
      // A connection closed to make room has left already, and its room was taken.
      if (this.open.delete(socket)) this.wakeOne();
    });
    return socket;
  }

  /** The first request waiting, whatever its key, tries again: there is room now. */
  private wakeOne(): void {
    this.waiting.shift()?.hand(undefined);
  }

  /** An idle connection taken off its list: no longer dropped on its idle events. */
  private unidle(entry: { socket: Socket; drop: () => void }): Socket {
    for (const event of IDLE_EVENTS) entry.socket.off(event, entry.drop);
    return entry.socket;
  }

  private take(key: string): Socket | undefined {
    const entry = this.idle.get(key)?.pop();
    if (!entry) return undefined;
    const socket = this.unidle(entry);
    socket.ref();
    return socket;
  }

  /** Closes one idle connection of another key, so that a request for `key` can open one. */
  private closeIdleOther(key: string): void {
    for (const [other, list] of this.idle) {
      const entry = other === key ? undefined : list.shift();
      if (!entry) continue;
      const socket = this.unidle(entry);
      this.open.delete(socket);
      socket.destroy();
      return;
    }
  }

  /** A connection whose response has been read in full: to the next request waiting for its key, or idle. */
  put(key: string, socket: Socket): void {
    if (!this.keepAlive || socket.destroyed || this.closed) {
      socket.destroy();
      return;
    }
    const i = this.waiting.findIndex((w) => w.key === key);
    if (i >= 0) {
      const [next] = this.waiting.splice(i, 1);
      next?.hand(socket);
      return;
    }
    if (this.waiting.length > 0) {
      // Only requests for other endpoints or local addresses wait: this connection's room is theirs.
      socket.destroy();
      return;
    }
    const list = this.idle.get(key) ?? [];
    this.idle.set(key, list);
    // Nothing was asked while idle: an unsolicited byte, the server's close or an error ends its reuse.
    const drop = () => {
      const at = list.findIndex((e) => e.socket === socket);
      if (at >= 0) list.splice(at, 1);
      socket.destroy();
    };
    for (const event of IDLE_EVENTS) socket.once(event, drop);
    list.push({ socket, drop });
    socket.unref();
  }

  destroy(): void {
    this.closed = true;
    for (const s of this.open) s.destroy();
    this.open.clear();
    this.idle.clear();
    for (const w of this.waiting.splice(0)) w.hand(undefined);
  }
}

const IDLE_EVENTS = ['data', 'end', 'close', 'error'] as const;
/** How long a request waits for a busy connection before it opens one of its own (see Pool). */
export const OVERFLOW_AFTER_MS = 100;

function send(req: HttpRequest, pool: Pool): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const url = new URL(req.url);
    const e = endpointOf(url);
    const key = `${e.host}|${e.port}|${req.localAddress ?? ''}`;
    let text: string;
    try {
      text = requestText(req, e, pool.keepAlive, url.pathname);
    } catch (err) {
      reject(err);
      return;
    }
    // One deadline for the whole exchange, from the wait for a connection to the last byte: a server that
    // trickles bytes or holds every connection must not hold the caller. A connection never made (IMDS's IPv4
    // address filtered, a hop dropping SYNs) is a reason to try the next endpoint; a connection that was made and
    // then went quiet is not, nor is a wait behind requests that were answered slowly.
    let socket: Socket | undefined;
    let leaveLine: (() => void) | undefined;
    let finished = false;
    const deadline = setTimeout(() => {
      if (!socket) {
        leaveLine?.();
        fail(transportError(`no connection free within ${req.timeoutMs} ms`, false));
        return;
      }
      const connecting = socket.connecting;
      fail(transportError(connecting ? `no connection within ${req.timeoutMs} ms` : `no answer within ${req.timeoutMs} ms`, connecting));
    }, req.timeoutMs);
    let buf: Buffer = Buffer.alloc(0);
    let reused = false;
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      step(false);
    };
    const onEnd = () => step(true);
    const onError = (err: NodeJS.ErrnoException) => {
      const reason = err.code ? `${err.code}: ${err.message}` : err.message;
      // A reused connection the server had just closed fails without having been refused: not "unreachable".
      fail(transportError(reason, !reused && UNREACHABLE.has(err.code ?? '')));
    };
    const finish = () => {
      finished = true;
      clearTimeout(deadline);
      socket?.off('data', onData);
      socket?.off('end', onEnd);
      socket?.off('close', onEnd);
      socket?.off('error', onError);
    };
    const fail = (err: Ec2netError) => {
      if (finished) return;
      finish();
      socket?.destroy();
      reject(err);
    };
    const step = (closed: boolean) => {
      if (finished || !socket) return;
      const parsed = parseResponse(buf, closed, req.maxBytes);
      if (parsed === undefined) return;
      if ('error' in parsed) {
        fail(transportError(parsed.error, false));
        return;
      }
      finish();
      const { status, body, keepAlive, rest } = parsed.done;
      if (keepAlive && rest === 0 && !closed) pool.put(key, socket);
      else socket.destroy();
      resolve({ status, body });
    };
    const connectTo = () =>
      connect({ host: e.host, port: e.port, noDelay: true, ...(req.localAddress ? { localAddress: req.localAddress } : {}) });
    void pool
      .acquire(key, connectTo, (leave) => (leaveLine = leave))
      .then((got) => {
        leaveLine = undefined;
        if (!got) {
          fail(transportError('transport closed', false));
          return;
        }
        if (finished) {
          // The deadline passed as the connection came free: hand it on.
          pool.put(key, got.socket);
          return;
        }
        socket = got.socket;
        reused = got.reused;
        socket.on('data', onData);
        socket.on('end', onEnd);
        socket.on('close', onEnd);
        socket.on('error', onError);
        socket.write(text, 'latin1');
      });
  });
}

export interface Transport {
  readonly transport: HttpTransport;
  /** The most connections this transport has held open at once. */
  peakConnections(): number;
  /** Closes every connection, idle or busy. */
  destroy(): void;
}

/**
 * Every user keeps connections alive and holds at most `maxConnections` at once (see Pool); idle connections never
 * keep the process alive. Commands wait for a free connection (no `overflowAfterMs`): a command's requests come
 * in one burst, and four connections carry them with no slower answer. The daemon keeps its connections between
 * refresh rounds and overflows after OVERFLOW_AFTER_MS: a round sends some sixty requests at once, and when the
 * server has closed the idle connections since the last round (rounds are a minute apart), opening one per
 * request cost as much CPU as the rest of the round.
 */
export function httpTransport(opts: { keepAlive: boolean; maxConnections?: number; overflowAfterMs?: number }): Transport {
  const pool = new Pool(opts.keepAlive, opts.maxConnections ?? Infinity, opts.overflowAfterMs ?? Infinity);
  return { transport: (req) => send(req, pool), peakConnections: () => pool.peak, destroy: () => pool.destroy() };
}

export const systemClock = {
  now: () => Date.now(),
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};
