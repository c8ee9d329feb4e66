/** The node:http adapter behind the IMDS client. */
import { Agent, request } from 'node:http';
import { TransportError, type HttpRequest, type HttpResponse, type HttpTransport } from '../imds/client.js';

/** Connection failures for which another endpoint may still answer. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT', 'ENOTFOUND']);

/**
 * A transport over node:http. Commands use no keep-alive agent: they make a handful of requests and must not keep
 * the event loop alive after them. The daemon passes a keep-alive agent: it asks IMDS every refresh round, and a
 * new connection per request is most of the CPU a no-op round costs.
 */
export function httpTransport(agent: Agent | false = false): HttpTransport {
  return (req) => send(req, agent);
}

export const nodeHttpTransport: HttpTransport = httpTransport(false);

export function keepAliveAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 8, timeout: 10_000 });
}

const send = (req: HttpRequest, agent: Agent | false) =>
  new Promise<HttpResponse>((resolveOuter, rejectOuter) => {
    const url = new URL(req.url);
    // One deadline for the whole exchange: a server that trickles bytes must not hold the caller.
    // A connection never made (IMDS's IPv4 address filtered, a hop dropping SYNs) is a reason to try the next
    // endpoint; a connection that was made and then went quiet is not.
    const deadline = setTimeout(() => {
      const connecting = r.socket === null || r.socket === undefined || r.socket.connecting;
      r.destroy(new TransportError(connecting ? `no connection within ${req.timeoutMs} ms` : `no answer within ${req.timeoutMs} ms`, connecting));
    }, req.timeoutMs);
    const resolve = (v: HttpResponse) => {
      clearTimeout(deadline);
      resolveOuter(v);
    };
    const reject = (e: unknown) => {
      clearTimeout(deadline);
      rejectOuter(e);
    };
    const r = request(
      {
        method: req.method,
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || 80,
        path: url.pathname,
        headers: req.headers,
        agent,
        ...(req.localAddress ? { localAddress: req.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > req.maxBytes) {
            res.destroy();
            reject(new TransportError(`response body exceeds ${req.maxBytes} bytes`, false));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => reject(new TransportError(e.message, false)));
      },
    );
    r.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof TransportError) reject(e);
      else reject(new TransportError(e.code ? `${e.code}: ${e.message}` : e.message, UNREACHABLE.has(e.code ?? '')));
    });
    r.end();
  });

export const systemClock = {
  now: () => Date.now(),
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};
