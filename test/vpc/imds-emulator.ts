/**
 * IMDSv2 emulator process. Run inside the VPC namespace:
 *   node imds-emulator.js --listen 169.254.169.254:80 [--listen [fd00:ec2::254]:80] --control /path/imds.sock
 * Every listen address serves the same state, tokens and request log. Prints `ready` on stdout once all servers
 * listen. The control server (HTTP over the unix socket) takes:
 *   PUT /state (ImdsState)  PUT /override {path, body}  DELETE /overrides  PUT /fault {path, fault}
 *   DELETE /faults  POST /expire-tokens  GET /log  DELETE /log  GET /connections  DELETE /connections
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  buildTree,
  emptyState,
  faultExpired,
  lookup,
  matchFault,
  parseTtl,
  META_DATA_PATH,
  TOKEN_HEADER,
  TOKEN_PATH,
  TTL_HEADER,
  type ArmedFault,
  type ImdsState,
  type Overrides,
  type RequestLogEntry,
} from './imds-model.js';

const MAX_CONTROL_BODY_BYTES = 1 << 20;

const { values } = parseArgs({ options: { listen: { type: 'string', multiple: true, default: [] }, control: { type: 'string' } } });
const listens = values.listen.flatMap((l) => {
  const m = /^(?:\[([0-9a-f:]+)\]|([0-9.]+)):([0-9]+)$/i.exec(l);
  return m ? [{ host: m[1] ?? m[2] ?? '', port: Number(m[3]) }] : [];
});
if (listens.length === 0 || listens.length !== values.listen.length || !values.control) {
  process.stderr.write('usage: imds-emulator --listen ADDR:PORT|[ADDR6]:PORT... --control SOCKET\n');
  process.exit(2);
}
const controlPath = values.control;

let state: ImdsState = emptyState();
let overrides: Overrides = {};
/**
 * The metadata tree of the current state and overrides, built once per change rather than per request: at 15 ENIs
 * × 100 addresses building it cost about a millisecond, which would add to every request as a real IMDS's answer
 * time does not.
 */
let tree: ReturnType<typeof buildTree> | undefined;
const faults = new Map<string, ArmedFault>();
/** token → expiry, ms since epoch */
const tokens = new Map<string, number>();
let log: RequestLogEntry[] = [];
/**
 * Client connections: open now, the most open at once since the last reset, and how many were made. A connection
 * counts until the client's FIN (its 'end'), not until node closes it: a client that closes one connection and
 * opens the next at once is holding one, not two.
 */
const connections = { open: 0, peak: 0, total: 0 };

function countConnection(socket: Socket): void {
  connections.open++;
  connections.total++;
  connections.peak = Math.max(connections.peak, connections.open);
  let counted = true;
  const gone = () => {
    if (counted) connections.open--;
    counted = false;
  };
  socket.once('end', gone);
  socket.once('close', gone);
}

function answer(req: IncomingMessage, res: ServerResponse, path: string, status: number, body = '', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers });
  res.end(body);
  log.push({ method: req.method ?? '', path, status, time: Date.now() });
}

function validToken(req: IncomingMessage): boolean {
  const token = req.headers[TOKEN_HEADER];
  if (typeof token !== 'string') return false;
  const expiry = tokens.get(token);
  return expiry !== undefined && expiry > Date.now();
}

async function serveImds(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://imds').pathname;
  const now = Date.now();
  for (const [key, armed] of faults) if (faultExpired(armed, now)) faults.delete(key);
  const faultKey = matchFault(faults, path);
  const armed = faultKey === undefined ? undefined : faults.get(faultKey);
  if (faultKey !== undefined && armed) {
    const { fault } = armed;
    if (fault.times !== undefined) {
      if (fault.times <= 1) faults.delete(faultKey);
      else faults.set(faultKey, { ...armed, fault: { ...fault, times: fault.times - 1 } });
    }
    if (fault.delayMs) await sleep(fault.delayMs);
    if (fault.reset) {
      req.socket.destroy();
      log.push({ method: req.method ?? '', path, status: 0, time: Date.now() });
      return;
    }
    if (fault.status !== undefined) return answer(req, res, path, fault.status, `injected ${fault.status}`);
  }

  if (path === TOKEN_PATH) {
    if (req.method !== 'PUT') return answer(req, res, path, 405);
    if (req.headers['x-forwarded-for'] !== undefined) return answer(req, res, path, 403);
    const ttl = parseTtl(req.headers[TTL_HEADER]);
    if (ttl === undefined) return answer(req, res, path, 400);
    const token = randomBytes(42).toString('base64');
    tokens.set(token, Date.now() + ttl * 1000);
    return answer(req, res, path, 200, token, { [TTL_HEADER]: String(ttl) });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return answer(req, res, path, 405);
  if (!validToken(req)) return answer(req, res, path, 401);
  if (path !== META_DATA_PATH && !path.startsWith(`${META_DATA_PATH}/`)) return answer(req, res, path, 404);
  tree ??= buildTree(state, overrides);
  const found = lookup(tree, path.slice(META_DATA_PATH.length));
  if (found.kind === 'absent') return answer(req, res, path, 404);
  return answer(req, res, path, 200, found.body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > MAX_CONTROL_BODY_BYTES) throw new Error('control body too large');
  }
  return body === '' ? undefined : JSON.parse(body);
}

async function serveControl(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const route = `${req.method} ${req.url}`;
  const body = (await readJson(req)) as Record<string, unknown> | undefined;
  const path = body?.path;
  if (route.startsWith('PUT /override') || route.startsWith('PUT /fault')) {
    if (typeof path !== 'string' || path === '') throw new Error('body.path must be a non-empty string');
  }
  switch (route) {
    case 'PUT /state':
      state = body as unknown as ImdsState;
      tree = undefined;
      break;
    case 'PUT /override':
      if (typeof body?.body !== 'string' && body?.body !== null) throw new Error('body.body must be a string or null');
      overrides = { ...overrides, [String(path)]: body.body };
      tree = undefined;
      break;
    case 'DELETE /overrides':
      overrides = {};
      tree = undefined;
      break;
    case 'PUT /fault':
      faults.set(String(path), { fault: body?.fault as ArmedFault['fault'], setAt: Date.now() });
      break;
    case 'DELETE /faults':
      faults.clear();
      break;
    case 'POST /expire-tokens':
      tokens.clear();
      break;
    case 'GET /log':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(log));
      return;
    case 'DELETE /log':
      log = [];
      break;
    case 'GET /connections':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(connections));
      return;
    case 'DELETE /connections':
      connections.peak = connections.open;
      connections.total = 0;
      break;
    default:
      res.writeHead(404);
      res.end(`unknown control call ${route}`);
      return;
  }
  res.writeHead(204);
  res.end();
}

function onImdsRequest(req: IncomingMessage, res: ServerResponse): void {
  serveImds(req, res).catch((err: unknown) => {
    process.stderr.write(`imds: ${String(err)}\n`);
    req.socket.destroy();
  });
}
const control = createServer((req, res) => {
  serveControl(req, res).catch((err: unknown) => {
    res.writeHead(400);
    res.end(String(err));
  });
});

rmSync(controlPath, { force: true });
await Promise.all([
  ...listens.map(({ host, port }) => new Promise<void>((resolve, reject) => {
    const server = createServer(onImdsRequest);
    server.on('connection', countConnection);
    server.once('error', reject);
    server.listen(port, host, resolve);
  })),
  new Promise<void>((resolve) => control.listen(controlPath, resolve)),
]);
process.stdout.write('ready\n');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
