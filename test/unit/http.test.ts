import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseResponse } from '../../src/ports/http.js';

const MAX = 64 * 1024;
const bytes = (s: string) => Buffer.from(s, 'latin1');

function done(text: string, closed = false) {
  const r = parseResponse(bytes(text), closed, MAX);
  assert.ok(r && 'done' in r, `expected a response, got ${JSON.stringify(r)}`);
  return r.done;
}

function error(text: string, closed = false, max = MAX): string {
  const r = parseResponse(bytes(text), closed, max);
  assert.ok(r && 'error' in r, `expected an error, got ${JSON.stringify(r)}`);
  return r.error;
}

describe('HTTP response parser', () => {
  test('Content-Length framing, keep-alive by default on HTTP/1.1', () => {
    const r = done('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n10.0.1.10');
    assert.deepEqual(r, { status: 200, body: '10.0.1.10', keepAlive: true, rest: 0 });
  });

  test('waits for the rest of a header or body', () => {
    assert.equal(parseResponse(bytes('HTTP/1.1 200 OK\r\nContent-Len'), false, MAX), undefined);
    assert.equal(parseResponse(bytes('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n10.0'), false, MAX), undefined);
  });

  test('chunked framing, with chunk extensions', () => {
    const r = done('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\n10.0.\r\n4\r\n1.10\r\n0\r\n\r\n');
    assert.equal(r.body, '10.0.1.10');
    assert.equal(r.rest, 0);
    assert.equal(parseResponse(bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n10.0.\r\n'), false, MAX), undefined);
  });

  test('a body framed by the end of the connection completes only once it has ended', () => {
    assert.equal(parseResponse(bytes('HTTP/1.0 200 OK\r\n\r\nabc'), false, MAX), undefined);
    assert.deepEqual(done('HTTP/1.0 200 OK\r\n\r\nabc', true), { status: 200, body: 'abc', keepAlive: false, rest: 0 });
  });

  test('Connection: close and HTTP/1.0 end keep-alive', () => {
    assert.equal(done('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').keepAlive, false);
    assert.equal(done('HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n').keepAlive, false);
  });

  test('204 and 304 carry no body; bytes after a response are counted', () => {
    assert.deepEqual(done('HTTP/1.1 204 No Content\r\n\r\n'), { status: 204, body: '', keepAlive: true, rest: 0 });
    assert.equal(done('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1').rest, 8);
  });

  test('the body is UTF-8', () => {
    const body = Buffer.from('ümlaut', 'utf8');
    const r = parseResponse(Buffer.concat([bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]), false, MAX);
    assert.ok(r && 'done' in r);
    assert.equal(r.done.body, 'ümlaut');
  });

  test('refuses what is not a well-formed response', () => {
    assert.match(error('SSH-2.0-OpenSSH\r\n\r\n'), /status line/);
    assert.match(error('HTTP/1.1 20 OK\r\n\r\n'), /status line/);
    assert.match(error('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n'), /header line/);
    assert.match(error('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'), /Content-Length/);
    assert.match(error('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'), /Content-Length/);
    assert.match(error('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), /Transfer-Encoding/);
    assert.match(error('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'), /chunk size/);
    assert.match(error('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n'), /malformed chunk/);
    assert.match(error('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n'), /trailers/);
  });

  test('a connection that ends early is an error, not a short answer', () => {
    assert.match(error('HTTP/1.1 200 OK\r\nContent-Len', true), /before a complete response header/);
    assert.match(error('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n10.0', true), /inside the body/);
    assert.match(error('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n10', true), /chunked body/);
  });

  test('limits: header block, declared and actual body size', () => {
    assert.match(error(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(17 * 1024)}`), /header exceeds/);
    assert.match(error('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', false, 10), /body exceeds 10 bytes/);
    assert.match(error('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n', false, 10), /body exceeds 10 bytes/);
    assert.match(error(`HTTP/1.0 200 OK\r\n\r\n${'a'.repeat(11)}`, false, 10), /body exceeds 10 bytes/);
  });
});
