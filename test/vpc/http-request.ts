/**
 * `node http-request.js [--method M] [--header 'Name: value']... [--timeout MS] URL`: one HTTP request, printed as
 * JSON {status, body, error?} on stdout; status 0 when no answer came (reset, refused, timeout).
 */
import { request } from 'node:http';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    method: { type: 'string', default: 'GET' },
    header: { type: 'string', multiple: true, default: [] },
    timeout: { type: 'string', default: '5000' },
  },
});
const url = positionals[0];
if (url === undefined) {
  process.stderr.write('usage: http-request [--method M] [--header "Name: value"]... [--timeout MS] URL\n');
  process.exit(2);
}
const headers = Object.fromEntries(values.header.map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]));

let printed = false;
function print(answer: { status: number; body: string; error?: string }): void {
  if (!printed) process.stdout.write(`${JSON.stringify(answer)}\n`);
  printed = true;
}

const req = request(url, { method: values.method, headers, timeout: Number(values.timeout) }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (d: string) => (body += d));
  res.on('end', () => print({ status: res.statusCode ?? 0, body }));
  res.on('error', (err) => print({ status: 0, body, error: err.message }));
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (err) => print({ status: 0, body: '', error: err.message }));
req.end();
