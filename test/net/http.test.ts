/**
 * The HTTP transport against real sockets in the sandbox's own loopback: node's HTTP server (the IMDS emulator's),
 * and raw servers that misbehave the ways a transport has to survive.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { isEc2netError } from '../../src/errors.js';
import type { HttpRequest } from '../../src/imds/client.js';
import { OVERFLOW_AFTER_MS, httpTransport } from '../../src/ports/http.js';
import { assertSandboxed } from '../vpc/guard.js';

assertSandboxed();

function listen<T extends Server | HttpServer>(server: T): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function req(url: string, extra: Partial<HttpRequest> = {}): HttpRequest {
  return { method: 'GET', url, headers: { 'X-Test': '1' }, timeoutMs: 2000, maxBytes: 64 * 1024, ...extra };
}

describe('HTTP transport over real sockets', () => {
  let server: HttpServer;
  let base: string;
  const sockets = new Set<Socket>();
  const seen: { method: string; url: string; header: string | undefined; length: string | undefined }[] = [];

  before(async () => {
    server = createHttpServer((rq, rs) => {
      seen.push({ method: rq.method ?? '', url: rq.url ?? '', header: rq.headers['x-test'] as string | undefined, length: rq.headers['content-length'] });
      if (rq.url === '/chunked') {
        rs.write('10.0.');
        rs.end('1.10');
      } else if (rq.url === '/missing') {
        rs.writeHead(404).end();
      } else {
        rs.setHeader('Content-Length', 2);
        rs.end('ok');
      }
    });
    server.on('connection', (s) => sockets.add(s));
    base = await listen(server);
  });
  after(() => server.close());

  test('GET and PUT, with the headers asked for; chunked and 404 answers', async () => {
    const t = httpTransport({ keepAlive: false });
    assert.deepEqual(await t.transport(req(`${base}/plain`)), { status: 200, body: 'ok' });
    assert.deepEqual(await t.transport(req(`${base}/chunked`)), { status: 200, body: '10.0.1.10' });
    assert.deepEqual(await t.transport(req(`${base}/missing`)), { status: 404, body: '' });
    assert.deepEqual(await t.transport(req(`${base}/token`, { method: 'PUT' })), { status: 200, body: 'ok' });
    assert.deepEqual(seen.slice(-1)[0], { method: 'PUT', url: '/token', header: '1', length: '0' });
    t.destroy();
  });

  test('keep-alive: requests share connections, and one the server closed is not reused', async () => {
    const before = sockets.size;
    const t = httpTransport({ keepAlive: true });
    for (let i = 0; i < 5; i++) assert.equal((await t.transport(req(`${base}/plain`))).body, 'ok');
    assert.equal(sockets.size - before, 1, 'five sequential requests over one connection');
    await Promise.all(Array.from({ length: 4 }, () => t.transport(req(`${base}/plain`))));
    // The server drops every idle connection; the next request opens a new one instead of failing.
    server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await t.transport(req(`${base}/plain`))).body, 'ok');
    t.destroy();
  });

  test('keepAlive false closes the connection once the answer is in; keepAlive true keeps it', async () => {
    const closedAfter = async (keepAlive: boolean) => {
      const t = httpTransport({ keepAlive });
      const connected = new Promise<Socket>((resolve) => server.once('connection', resolve));
      await t.transport(req(`${base}/plain`));
      const socket = await connected;
      const closed = await Promise.race([
        new Promise<boolean>((r) => (socket.destroyed ? r(true) : socket.once('close', () => r(true)))),
        new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
      ]);
      t.destroy();
      return closed;
    };
    assert.equal(await closedAfter(false), true, 'Connection: close');
    assert.equal(await closedAfter(true), false, 'kept open');
  });

  test('a refused connection is unreachable (the next endpoint may answer); a reset after connecting is not', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    const t = httpTransport({ keepAlive: false });
    await assert.rejects(t.transport(req(url)), (e: unknown) => isEc2netError(e, 'Unreachable') && /ECONNREFUSED/.test(e.message));

    const resetting = createServer((s) => s.once('data', () => s.resetAndDestroy()));
    const url2 = await listen(resetting);
    await assert.rejects(t.transport(req(url2)), (e: unknown) => isEc2netError(e, 'Transient'));
    resetting.close();
  });

  test('a server that answers too slowly or too much, or not HTTP, is a transport error', async () => {
    const raw = createServer((s) => {
      s.once('data', (d) => {
        const path = d.toString('latin1').split(' ')[1];
        if (path === '/silent') return; // never answers
        if (path === '/trickle') {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
          const timer = setInterval(() => (s.writable ? s.write('a') : clearInterval(timer)), 100);
          s.once('close', () => clearInterval(timer));
          return;
        }
        if (path === '/huge') return void s.end(`HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n${'a'.repeat(70000)}`);
        if (path === '/short') return void s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
        s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n');
      });
      s.on('error', () => undefined);
    });
    const url = await listen(raw);
    const t = httpTransport({ keepAlive: false });
    const fails = async (path: string, pattern: RegExp) =>
      assert.rejects(t.transport(req(`${url}${path}`, { timeoutMs: 300 })), (e: unknown) => isEc2netError(e, 'Transient') && pattern.test(e.message));
    await fails('/silent', /no answer within 300 ms/);
    await fails('/trickle', /no answer within 300 ms/);
    await fails('/huge', /exceeds 65536 bytes/);
    await fails('/short', /closed inside the body/);
    await fails('/ssh', /status line/);
    t.destroy();
    raw.close();
  });

  test('maxConnections: sixty requests at once share three connections, every one answered', async () => {
    const before = sockets.size;
    // No overflow on a loaded machine: the test is about the cap.
    const t = httpTransport({ keepAlive: true, maxConnections: 3, overflowAfterMs: 10_000 });
    try {
      const answers = await Promise.all(Array.from({ length: 60 }, () => t.transport(req(`${base}/plain`))));
      assert.deepEqual(new Set(answers.map((a) => a.body)), new Set(['ok']));
      assert.equal(answers.length, 60);
      assert.equal(sockets.size - before, 3);
      // The server closes them all while idle; the next burst opens three again, not sixty.
      server.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 50));
      await Promise.all(Array.from({ length: 60 }, () => t.transport(req(`${base}/plain`))));
      assert.equal(sockets.size - before, 6);
    } finally {
      t.destroy();
    }
  });

  test('maxConnections: a server slow to answer gets the requests in parallel after a short wait, not one by one', async () => {
    let connections = 0;
    const slow = createServer((s) => {
      connections++;
      s.on('data', () => setTimeout(() => s.writable && s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 150));
      s.on('error', () => undefined);
    });
    const url = await listen(slow);
    const t = httpTransport({ keepAlive: true, maxConnections: 1, overflowAfterMs: OVERFLOW_AFTER_MS });
    try {
      // One after another, ten answers 150 ms apart would take 1.5 s, past every request's 1 s deadline.
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => t.transport(req(`${url}/${i}`, { timeoutMs: 1000 }))));
      assert.deepEqual(new Set(answers.map((a) => a.body)), new Set(['ok']));
      assert.ok(Date.now() - started < 900, `took ${Date.now() - started} ms`);
      assert.equal(connections, 10, `the nine that waited ${OVERFLOW_AFTER_MS} ms opened their own`);
    } finally {
      t.destroy();
      slow.close();
    }
  });

  test('maxConnections without overflow (commands): a slow server gets the requests four at a time, never more', async () => {
    let open = 0;
    let peak = 0;
    const slow = createServer((s) => {
      open++;
      peak = Math.max(peak, open);
      s.once('close', () => open--);
      s.on('data', () => setTimeout(() => s.writable && s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 30));
      s.on('error', () => undefined);
    });
    const url = await listen(slow);
    const t = httpTransport({ keepAlive: true, maxConnections: 4 });
    try {
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => t.transport(req(`${url}/${i}`, { timeoutMs: 5000 }))));
      assert.deepEqual(new Set(answers.map((a) => a.body)), new Set(['ok']));
      assert.equal(peak, 4);
      assert.equal(t.peakConnections(), 4);
    } finally {
      t.destroy();
      slow.close();
    }
  });

  test('maxConnections counts every endpoint and local address together: an idle connection to one makes room for another', async () => {
    const servers = [createHttpServer((rq, rs) => rs.end('a')), createHttpServer((rq, rs) => rs.end('b'))];
    let open = 0;
    let peak = 0;
    for (const srv of servers) {
      srv.on('connection', (s) => {
        open++;
        peak = Math.max(peak, open);
        // Counted out at the client's FIN: its close may come after the client's next connection is accepted.
        let gone = false;
        const out = () => {
          if (!gone) open--;
          gone = true;
        };
        s.once('end', out);
        s.once('close', out);
      });
    }
    const urls = await Promise.all(servers.map((srv) => listen(srv)));
    const t = httpTransport({ keepAlive: true, maxConnections: 2 });
    try {
      for (let round = 0; round < 3; round++) {
        for (const [i, url] of urls.entries()) {
          const answers = await Promise.all(Array.from({ length: 5 }, () => t.transport(req(`${url}/x`))));
          assert.deepEqual(new Set(answers.map((a) => a.body)), new Set([i === 0 ? 'a' : 'b']));
        }
      }
      assert.ok(t.peakConnections() <= 2, `client held ${t.peakConnections()}`);
      assert.ok(peak <= 2, `servers saw ${peak} at once`);
    } finally {
      t.destroy();
      for (const srv of servers) srv.close();
    }
  });

  test('maxConnections: a request whose deadline passes while it waits is not "unreachable"; a closed busy connection frees its slot', async () => {
    let silent = true;
    const raw = createServer((s) => {
      s.on('data', () => {
        if (!silent) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
      s.on('error', () => undefined);
    });
    const url = await listen(raw);
    const t = httpTransport({ keepAlive: true, maxConnections: 1, overflowAfterMs: 10_000 });
    try {
      const first = t.transport(req(`${url}/a`, { timeoutMs: 400 }));
      await assert.rejects(t.transport(req(`${url}/b`, { timeoutMs: 50 })), (e: unknown) => isEc2netError(e, 'Transient') && /no connection free within 50 ms/.test(e.message));
      await assert.rejects(first, /no answer within 400 ms/);
      // The silent connection was destroyed at its deadline: its slot serves the next request on a new connection.
      silent = false;
      assert.deepEqual(await t.transport(req(`${url}/c`)), { status: 200, body: 'ok' });
    } finally {
      t.destroy();
      raw.close();
    }
  });

  test('destroy: requests waiting for a connection fail at once', async () => {
    const raw = createServer((s) => s.on('error', () => undefined));
    const url = await listen(raw);
    const t = httpTransport({ keepAlive: true, maxConnections: 1, overflowAfterMs: 10_000 });
    try {
      const busy = t.transport(req(`${url}/a`, { timeoutMs: 5000 }));
      const waiting = t.transport(req(`${url}/b`, { timeoutMs: 5000 }));
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      t.destroy();
      await assert.rejects(waiting, /transport closed/);
      await assert.rejects(busy, (e: unknown) => isEc2netError(e, 'Transient'));
      assert.ok(Date.now() - started < 1000);
    } finally {
      t.destroy();
      raw.close();
    }
  });

  test('a header value with a line break is refused before anything is sent', async () => {
    const t = httpTransport({ keepAlive: false });
    const count = seen.length;
    await assert.rejects(t.transport(req(`${base}/plain`, { headers: { 'X-Test': '1\r\nX-Injected: 1' } })), /line break/);
    assert.equal(seen.length, count);
    t.destroy();
  });
});
